package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/money"
)

// costOptions are the flags of the cost preview, the budget and the
// balance check.
type costOptions struct {
	priceUSD       float64 // --price: every job costs this, over the catalog
	useCatalog     bool    // --catalog: validate and --dry-run read the price from the API
	maxCostUSD     float64 // --max-cost: the batch's budget, across runs
	requireBalance bool    // --require-balance: refuse to start below the estimate
	balanceBase    string
}

// registerPreview adds the flags validate and run share.
func (o *costOptions) registerPreview(fs *pflag.FlagSet) {
	fs.Float64Var(&o.priceUSD, "price", 0, "price every job at `USD` dollars for the cost estimate and --max-cost, over the catalog's price")
	fs.BoolVar(&o.useCatalog, "catalog", false, "read the model's price from the API's catalog for the cost estimate (sends the token; run does it anyway)")
}

// registerRun adds the flags only run has.
func (o *costOptions) registerRun(fs *pflag.FlagSet) {
	fs.Float64Var(&o.maxCostUSD, "max-cost", 0, "budget: stop submitting before the batch's estimated spend, across runs, would pass `USD` dollars; exit 75 if rows remain (0 = none)")
	fs.BoolVar(&o.requireBalance, "require-balance", false, "refuse to start (exit 77) when the account's balance is below the estimate of the rows left")
	fs.StringVar(&o.balanceBase, "balance-base", envOr("RUNCOMFY_BALANCE_BASE", ""),
		"balance endpoint base URL (env RUNCOMFY_BALANCE_BASE; default "+api.DefaultBalanceURL+" with RunComfy's API, else the API's own host)")
}

// check refuses amounts no run can use.
func (o costOptions) check() error { return batch.CheckAmounts(o.priceUSD, o.maxCostUSD) }

// previewPricer is the price the cost preview uses: --price, else the
// catalog's when --catalog asks for it. note says why there is none.
func previewPricer(ctx context.Context, o costOptions, apiBase, model string) (p money.Pricer, note string) {
	return batch.PreviewPricer(ctx, o.priceUSD, o.useCatalog, accountOptions{apiBase: apiBase, balanceBase: o.balanceBase}.client, model)
}

// costJSON is the estimate in JSON summaries.
type costJSON struct {
	USD        float64 `json:"usd"`
	MaxUSD     float64 `json:"max_usd,omitempty"` // above USD when the rows' prices differ and which are submitted is not known
	Rows       int     `json:"rows"`
	Unknown    int     `json:"unknown_rows,omitempty"`
	Basis      string  `json:"basis"`
	IsEstimate bool    `json:"is_estimate"`
}

// printCostLine prints the preview's cost line, and note when there is one
// and it matters: the cost is unknown, or always says where the price is
// from.
func printCostLine(w io.Writer, t money.Total, p money.Pricer, note string, always bool) {
	fmt.Fprintln(w, money.CostLine(t, p))
	if note != "" && (always || t.Unknown > 0 || t.Rows == 0) {
		fmt.Fprintf(w, "  (%s)\n", note)
	}
}

// dryRunCost prints the dry run's cost line, and returns it for JSON.
func dryRunCost(w io.Writer, p batch.PreviewResult) *costJSON {
	lo, hi, submits := p.Low, p.High, p.Plan.Submits
	if hi.USD > lo.USD {
		fmt.Fprintf(w, "estimated cost: %s to %s for %d rows to submit (%s; which rows, the plan does not say)\n",
			money.USD(lo.USD), money.USD(hi.USD), submits, p.Pricer.Describe())
	} else {
		printCostLine(w, lo, p.Pricer, p.Note, p.FromState)
	}
	c := &costJSON{USD: lo.USD, Rows: lo.Rows, Unknown: lo.Unknown, Basis: p.Pricer.Describe(), IsEstimate: true}
	if hi.USD > lo.USD {
		c.MaxUSD = hi.USD
	}
	return c
}

// totalJSON is t as JSON.
func totalJSON(t money.Total, p money.Pricer) *costJSON {
	return &costJSON{USD: t.USD, Rows: t.Rows, Unknown: t.Unknown, Basis: p.Describe(), IsEstimate: true}
}
