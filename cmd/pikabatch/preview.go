package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/pikabatch/pikabatch/runner"
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
	printPlan(stdout, p.Plan, p.StatePath)
	dryRunCost(stdout, p)
	if p.Recorded != nil {
		printBudget(stdout, p.Recorded, p.High, p.Plan.Submits)
	}
	return nil
}

// printBudget says what the recorded budget leaves for the rows the plan
// would submit (hi, the upper estimate), and whether the run would stop at it.
func printBudget(w io.Writer, r *money.Recorded, hi money.Total, submits int) {
	if r.LimitUSD <= 0 {
		return
	}
	line := fmt.Sprintf("budget: %s of %s spent (recorded in the state file)", money.USD(r.SpentUSD), money.USD(r.LimitUSD))
	unsent, need, short := r.Unsent(hi, submits)
	switch {
	case submits == 0 || hi.Rows == 0:
	case short:
		line += fmt.Sprintf("; the run would stop at it with about %d rows unsent (raise --max-cost to %s to submit them all)",
			unsent, strconv.FormatFloat(need, 'f', -1, 64))
	default:
		line += fmt.Sprintf("; %s left covers the rows to submit", money.USD(r.LeftUSD()))
	}
	fmt.Fprintln(w, line)
}

// printPlan writes a dry run's plan for people.
func printPlan(stdout io.Writer, p runner.Plan, statePath string) {
	fmt.Fprintf(stdout, "dry run: nothing sent. %s against %s:\n", plural(p.Rows, "row"), statePath)
	line := func(n int, what string) {
		if n > 0 {
			fmt.Fprintf(stdout, "  %6d  %s\n", n, what)
		}
	}
	line(p.New, "new: would be submitted")
	line(p.Retry, "failed before: would be submitted again (--retry-failed)")
	line(p.Resend, "uncertain: would be re-sent once (each a possible duplicate charge)")
	line(p.Held, "uncertain: held, not re-sent")
	line(p.InFlight, "resumable: in flight on the API, would be polled")
	line(p.Download, "resumable: rendered, would be downloaded (no new render)")
	line(p.Done, "done: skipped")
	line(p.Failed, "failed, timed out, expired or cancelled: skipped (--retry-failed submits them again)")
	line(p.Changed, "changed since submitted: skipped and reported")
	line(p.ChangedInFlight, "of them in flight: the render of the old parameters would be collected")
	line(p.Orphans, "orphans: jobs of the state file no row claims; never submitted")
	line(p.OrphansInFlight, "of them in flight or not downloaded: would be collected")
	fmt.Fprintf(stdout, "at most %d paid submits\n", p.Submits)
}

// reportRunSpend says this run's part of the spend, below the batch's
// account (which tells the whole batch's): what the API reported for the
// jobs this run finished, and what the budget counted this run. With
// --json the summary owns stdout, and this line goes to stderr.
func reportRunSpend(stdout, stderr io.Writer, asJSON bool, budget *money.Budget, r money.SpendReport) {
	w := stdout
	if asJSON {
		w = stderr
	}
	if r.ReportedJobs == 0 && r.EstimatedJobs == 0 && r.UnknownJobs == 0 && budget == nil {
		return
	}
	line := fmt.Sprintf("this run's spend: %s as the API reported it", money.USD(r.RunReportedUSD))
	if budget != nil {
		// The budget's count can exceed the spend: a job counts at the
		// highest price any run priced it at, or its reported cost.
		f := budget.Figures()
		line += fmt.Sprintf("; the budget counted %s this run, %s in all of %s; %s left",
			money.USD(f.RunUSD), money.USD(f.SpentUSD), money.USD(f.LimitUSD), money.USD(f.LeftUSD))
	}
	fmt.Fprintln(w, line)
}
