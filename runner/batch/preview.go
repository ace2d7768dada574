package batch

import (
	"context"
	"errors"
	"log/slog"

	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/store"
)

// errNoModel is runner.New's refusal of an empty model, which a dry run
// previews without a runner.
var errNoModel = errors.New("runner: model is required")

// PreviewResult is the plan of a run against its state file, priced.
type PreviewResult struct {
	// StatePath is the state file the plan was made against.
	StatePath string
	Plan      runner.Plan
	// Pricer is the price the rows were estimated with; Note says why
	// there is none, or where it is from.
	Pricer money.Pricer
	Note   string
	// Low and High are the estimate of the rows to submit (Plan.Submits):
	// they differ when rows cost differently and which are submitted is
	// not known.
	Low, High money.Total
	// FromState is true when the price is the one the state file
	// recorded: the note is worth saying whatever the estimate.
	FromState bool
	// Priced is true when a price was asked for (Config.PriceUSD or
	// UseCatalog) or recorded.
	Priced bool
	// Recorded is what the state file recorded of the price and the
	// budget; nil without a state file.
	Recorded *money.Recorded
}

// Preview judges the state file as Run would, and plans the run against it
// without sending anything: neither the output folder nor the state file
// is created or written. A run that would be refused is refused here.
func Preview(ctx context.Context, c Config) (PreviewResult, error) {
	b, err := prepare(ctx, c, false)
	if err != nil {
		return PreviewResult{}, err
	}
	readState, err := b.state.checkForDryRun(b.log)
	if err != nil {
		return PreviewResult{}, err
	}
	if b.schema == nil {
		if err := b.previewSchema(ctx, readState); err != nil {
			return PreviewResult{}, err
		}
	}
	if readState {
		if err := b.previewKeySchema(ctx); err != nil {
			return PreviewResult{}, err
		}
	}
	rows, err := b.manifestRows()
	if err != nil {
		return PreviewResult{}, err
	}
	defer rows.Close()
	return b.plan(ctx, shard.Filter(rows, b.spec), readState)
}

// plan plans rows against the state file (readState) or as a new batch,
// and prices the rows to submit.
func (b *batch) plan(ctx context.Context, rows runner.RowSource, readState bool) (PreviewResult, error) {
	c := b.c
	res := PreviewResult{StatePath: b.state.path}
	var jobs runner.JobReader // nil: no state file, every row is new
	if readState {
		st, err := store.Open(b.state.path, store.Options{ReadOnly: true})
		if err != nil {
			return res, err
		}
		defer st.Close()
		if jobs, err = previewState(ctx, st, c, b.log); err != nil {
			return res, err
		}
		if res.Recorded, err = money.ReadRecorded(ctx, st); err != nil {
			return res, err
		}
	}
	if c.Model == "" {
		return res, errNoModel // as runner.New refuses the run
	}
	res.Pricer, res.Note = PreviewPricer(ctx, c.PriceUSD, c.UseCatalog, c.catalogClient, c.Model)
	rec := res.Recorded
	res.FromState = rec != nil && rec.Priced && c.PriceUSD <= 0 && !c.UseCatalog
	if res.FromState {
		// The run prices its jobs so when the catalog does not answer.
		res.Pricer, res.Note = rec.Pricer, "the price recorded in the state file"
	}
	priced := &pricedRows{RowSource: rows, Tally: money.Tally{Pricer: res.Pricer}}
	p, err := runner.PlanRows(ctx, priced, jobs, runner.PlanOptions{OutDir: c.Out, RetryFailed: c.RetryFailed,
		HoldUncertain: c.HoldUncertain, MaxResends: c.MaxResends, Logger: b.log})
	if err != nil {
		return res, err
	}
	res.Plan = p
	res.Low, res.High = priced.PlanCost(p.Submits)
	res.Priced = c.PriceUSD > 0 || c.UseCatalog || res.FromState
	return res, nil
}

// previewState returns the jobs of st as a run would see them: bound to
// this run's API and model, with the recovery journal's request IDs.
func previewState(ctx context.Context, st *store.Store, c Config, log *slog.Logger) (runner.JobReader, error) {
	// A dry run previews a run: one that would be refused is refused here.
	if err := bindState(ctx, st, c, log); err != nil {
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
