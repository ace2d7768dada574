package main

import (
	"fmt"
	"io"

	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/money"
)

// printPreview prints a dry run's plan, its cost and what the recorded
// budget leaves: for people, or as JSON.
func printPreview(stdout io.Writer, p batch.PreviewResult, asJSON bool) error {
	if asJSON {
		pj := planJSONOf(p.Plan)
		if p.Priced {
			pj.EstimatedCost = dryRunCost(io.Discard, p)
		}
		return writeJSON(stdout, pj)
	}
	p.Plan.WriteText(stdout, p.StatePath)
	dryRunCost(stdout, p)
	if p.Recorded != nil {
		if line := p.Recorded.BudgetLine(p.High, p.Plan.Submits); line != "" {
			fmt.Fprintln(stdout, line)
		}
	}
	return nil
}

// reportRunSpend says this run's part of the spend (money.SpendReport.RunLine).
// With --json the summary owns stdout, and this line goes to stderr.
func reportRunSpend(stdout, stderr io.Writer, asJSON bool, budget *money.Budget, r money.SpendReport) {
	w := stdout
	if asJSON {
		w = stderr
	}
	if line := r.RunLine(budget); line != "" {
		fmt.Fprintln(w, line)
	}
}
