package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/store"
)

// errNoModel is runner.New's refusal of an empty --model, which a dry run
// previews without a runner.
var errNoModel = errors.New("runner: model is required")

// dryRun prints the plan of a run against the state file; nothing is sent,
// and neither the output folder nor the state file is created or written.
func dryRun(ctx context.Context, o batchOptions, rows runner.RowSource, statePath string, readState bool, log *slog.Logger, stdout io.Writer) error {
	var jobs runner.JobReader // nil: no state file, every row is new
	var rec *money.Recorded   // nil: no state file
	if readState {
		st, err := store.Open(statePath, store.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer st.Close()
		if jobs, err = previewState(ctx, st, o, log); err != nil {
			return err
		}
		if rec, err = money.ReadRecorded(ctx, st); err != nil {
			return err
		}
	}
	if o.model == "" {
		return errNoModel // as runner.New refuses the run
	}
	pricer, note := previewPricer(ctx, o.cost, o.apiBase, o.model)
	fromState := rec != nil && rec.Priced && o.cost.priceUSD <= 0 && !o.cost.useCatalog
	if fromState {
		// The run prices its jobs so when the catalog does not answer.
		pricer, note = rec.Pricer, "the price recorded in the state file"
	}
	priced := &pricedRows{RowSource: rows, Tally: money.Tally{Pricer: pricer}, noteAlways: fromState}
	p, err := runner.PlanRows(ctx, priced, jobs, runner.PlanOptions{OutDir: o.out, RetryFailed: o.retryFailed,
		HoldUncertain: o.holdUncertain, MaxResends: o.maxResends, Logger: log})
	if err != nil {
		return err
	}
	if o.jsonSummary {
		pj := planJSONOf(p)
		if o.cost.priceUSD > 0 || o.cost.useCatalog || priced.noteAlways {
			pj.EstimatedCost = dryRunCost(io.Discard, priced, p.Submits, note)
		}
		return writeJSON(stdout, pj)
	}
	printPlan(stdout, p, statePath)
	dryRunCost(stdout, priced, p.Submits, note)
	if rec != nil {
		printBudget(stdout, rec, priced, p.Submits)
	}
	return nil
}

// printBudget says what the recorded budget leaves for the rows the plan
// would submit, and whether the run would stop at it.
func printBudget(w io.Writer, r *money.Recorded, rows *pricedRows, submits int) {
	if r.LimitUSD <= 0 {
		return
	}
	line := fmt.Sprintf("budget: %s of %s spent (recorded in the state file)", money.USD(r.SpentUSD), money.USD(r.LimitUSD))
	_, hi := rows.PlanCost(submits)
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

// previewState returns the jobs of st as a run would see them: bound to
// this run's API and model, with the recovery journal's request IDs.
func previewState(ctx context.Context, st *store.Store, o batchOptions, log *slog.Logger) (runner.JobReader, error) {
	// A dry run previews a run: one that would be refused is refused here.
	if err := bindState(ctx, st, o, log); err != nil {
		return nil, err
	}
	entries, bad, err := store.ReadJournal(st.Path(), st.BatchID())
	if err != nil {
		return nil, err
	}
	for _, l := range bad {
		log.Warn("recovery journal line a run would not apply", "err", l)
	}
	// A run records them before planning; so does its preview.
	return runner.WithJournal(st, entries), nil
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

// manifestRows opens the manifest for streaming.
func manifestRows(path string, cfg manifest.Config) (*manifest.Reader, error) {
	rows, err := manifest.OpenConfig(path, cfg)
	if err != nil {
		return nil, manifestError(err)
	}
	return rows, nil
}
