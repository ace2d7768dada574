package main

import (
	"io"

	"github.com/spf13/pflag"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/money"
)

// registerPreviewCost adds the cost preview's flags, which validate and
// run share.
func registerPreviewCost(fs *pflag.FlagSet, c *batch.Config) {
	fs.Float64Var(&c.PriceUSD, "price", 0, "price every job at `USD` dollars for the cost estimate and --max-cost, over the catalog's price")
	fs.BoolVar(&c.UseCatalog, "catalog", false, "read the model's price from the API's catalog for the cost estimate (sends the token; run does it anyway)")
}

// registerRunCost adds the budget's and the balance's flags, which only
// run has.
func registerRunCost(fs *pflag.FlagSet, c *batch.Config) {
	fs.Float64Var(&c.MaxCostUSD, "max-cost", 0, "budget: stop submitting before the batch's estimated spend, across runs, would pass `USD` dollars; exit 75 if rows remain (0 = none)")
	fs.BoolVar(&c.RequireBalance, "require-balance", false, "refuse to start (exit 77) when the account's balance is below the estimate of the rows left")
	fs.StringVar(&c.BalanceBase, "balance-base", envOr("RUNCOMFY_BALANCE_BASE", ""),
		"balance endpoint base URL (env RUNCOMFY_BALANCE_BASE; default "+api.DefaultBalanceURL+" with RunComfy's API, else the API's own host)")
}

// costJSON is the estimate in JSON summaries.
type costJSON = money.Estimate

// dryRunCost prints the dry run's cost line, and returns it for JSON.
func dryRunCost(w io.Writer, p batch.PreviewResult) *costJSON {
	money.WriteRange(w, p.Low, p.High, p.Plan.Submits, p.Pricer, p.Note, p.FromState)
	return money.EstimateOf(p.Low, p.High, p.Pricer)
}

// totalJSON is t as JSON.
func totalJSON(t money.Total, p money.Pricer) *costJSON { return money.EstimateOf(t, t, p) }
