package money

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/pikabatch/pikabatch/runner/api"
)

// ListPrice is a model's catalog price for people: "$0.044/output", or
// "-" without a price.
func ListPrice(m api.Model) string {
	if m.BasePriceUSD == nil {
		return "-"
	}
	if m.PriceUnit == "" {
		return USD(*m.BasePriceUSD)
	}
	return USD(*m.BasePriceUSD) + "/" + m.PriceUnit
}

// PriceConfigFor is the price of a model from its catalog entry (m may be
// the zero Model when the catalog was not read) and an override in dollars
// per job (0: none). A per-second price takes a row without a duration at
// the schema's default duration.
func PriceConfigFor(m api.Model, overrideUSD float64) PriceConfig {
	cfg := PriceConfig{BaseUSD: m.BasePriceUSD, Unit: m.PriceUnit, OverrideUSD: overrideUSD}
	if fields, err := m.Fields(); err == nil {
		for _, f := range fields {
			if f.Name == "duration" && len(f.Default) > 0 {
				_ = json.Unmarshal(f.Default, &cfg.DefaultSeconds)
			}
		}
	}
	return cfg
}

// PricerFor is NewPricer(PriceConfigFor(m, overrideUSD)).
func PricerFor(m api.Model, overrideUSD float64) Pricer {
	return NewPricer(PriceConfigFor(m, overrideUSD))
}

// CostLine is a cost preview's line: "estimated cost: $0.132 for 3 rows
// (base $0.044/output)", or why the cost of some rows is unknown.
func CostLine(t Total, p Pricer) string {
	why := fmt.Sprint(t.Reason)
	if !errors.Is(t.Reason, ErrNoPrice) {
		why += "; " + p.Describe()
	}
	switch {
	case t.Unknown > 0 && t.Rows == 0:
		return fmt.Sprintf("estimated cost: unknown for %s (%s)", rowCount(t.Unknown), why)
	case t.Unknown > 0:
		return fmt.Sprintf("estimated cost: %s for %s, unknown for %d more (%s)", USD(t.USD), rowCount(t.Rows), t.Unknown, why)
	}
	return fmt.Sprintf("estimated cost: %s for %s (%s)", USD(t.USD), rowCount(t.Rows), p.Describe())
}

// rowCount is "1 row" or "3 rows".
func rowCount(n int) string {
	if n == 1 {
		return "1 row"
	}
	return strconv.Itoa(n) + " rows"
}
