package batch

import (
	"context"
	"fmt"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/money"
)

// modelReader reads a model's catalog entry.
type modelReader interface {
	Model(ctx context.Context, id string) (api.Model, error)
}

// catalogModel reads a model's catalog entry for the cost preview. It
// degrades: a catalog that fails or lacks the model gives the zero Model
// and a note, never an error.
func catalogModel(ctx context.Context, c modelReader, model string) (api.Model, string) {
	m, err := c.Model(ctx, model)
	if err != nil {
		return api.Model{}, fmt.Sprintf("price: the catalog did not answer for %s (%v); set --price USD", model, err)
	}
	return m, ""
}

// PreviewPricer is the price a cost preview uses: priceUSD, else the
// catalog's when useCatalog asks for it (open builds the catalog's
// client). note says why there is none.
func PreviewPricer(ctx context.Context, priceUSD float64, useCatalog bool, open func() (*api.Client, error), model string) (p money.Pricer, note string) {
	if priceUSD > 0 || !useCatalog {
		p = money.PricerFor(api.Model{}, priceUSD)
		if priceUSD <= 0 {
			note = "add --catalog to read the price from the API, or --price USD"
		}
		return p, note
	}
	client, err := open()
	if err != nil {
		return money.PricerFor(api.Model{}, 0), fmt.Sprintf("catalog not read: %v", err)
	}
	defer client.CloseIdleConnections()
	m, note := catalogModel(ctx, client, model)
	return money.PricerFor(m, 0), note
}

// pricedRows prices each row a RowSource yields, as the dry run reads it.
type pricedRows struct {
	runner.RowSource
	money.Tally
}

func (r *pricedRows) Next() (manifest.Row, error) {
	row, err := r.RowSource.Next()
	if err != nil {
		return row, err
	}
	if err := r.Add(row.Input.Lookup); err != nil {
		// Refused before anything is sent, as a row's error.
		return row, fmt.Errorf("row %q (line %d): %w", row.Key, row.Line, err)
	}
	return row, nil
}
