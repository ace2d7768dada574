package batch

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/inputs"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// Result is what a run leaves for its caller to show.
type Result struct {
	// StatePath is the state file the run used.
	StatePath string
	// Summary is the run's figures, the batch's account and spend in it.
	Summary runner.Summary
	// Calls counts the API calls the run made.
	Calls api.Calls
	// Spend is this run's part of the spend, as the state tells it; zero
	// when HasSpend is false (the state could not be read for it).
	Spend    money.SpendReport
	HasSpend bool
	// Budget is the batch's budget after the run; nil without one.
	Budget *money.Budget
	// Inputs counts the local files this run staged or sent inline and
	// the pre-signed URLs it made.
	Inputs inputs.Stats
}

// Run runs the batch c describes: it validates the manifest, judges and
// opens the state file, binds it, reads the price and the balance, runs the
// pipeline, accounts the spend, compacts the state and writes the results
// index's exports. A run stopped at the budget returns a
// *money.ReachedError. Result holds what a caller shows, also when the run
// itself failed; it is zero when the run never started.
func Run(ctx context.Context, c Config) (Result, error) {
	b, err := prepare(ctx, c, true)
	if err != nil {
		return Result{}, err
	}
	return b.run(ctx)
}

// run opens the state file, runs the batch and accounts it.
func (b *batch) run(ctx context.Context) (Result, error) {
	c := b.c
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return Result{}, fmt.Errorf("%w: %w", runner.ErrOutput, err)
	}
	owner := store.CurrentOwner(c.Command)
	if err := b.checkBucketForState(ctx); err != nil {
		return Result{}, err
	}
	st, err := b.openState(owner)
	if err != nil {
		return Result{}, err
	}
	defer st.Close()

	// Idle connections are closed at the end, so that a server shutting
	// down (the simulator in the demo and the tests) need not wait for them.
	apiTransport, fileTransport := Transport(c.Concurrency), Transport(c.DownloadConcurrency)
	defer apiTransport.CloseIdleConnections()
	defer fileTransport.CloseIdleConnections()
	client, err := newAPIClient(c, apiTransport, b.log)
	if err != nil {
		return Result{}, err
	}
	// Before anything is sent: this folder's jobs belong to one API and model.
	if err := b.bindAndCount(ctx, st); err != nil {
		return Result{}, err
	}
	sp, err := b.prepareCatalog(ctx, st, apiTransport)
	if err != nil {
		return Result{}, err
	}
	return b.runPipeline(ctx, st, owner, client, sp, fileTransport)
}

// runPipeline runs the runner over the shard's rows with the control
// socket listening, then accounts the spend, compacts the state and writes
// the exports.
func (b *batch) runPipeline(ctx context.Context, st *store.Store, owner store.Owner, client *api.Client,
	sp *money.Batch, fileTransport http.RoundTripper) (Result, error) {
	bc := bucket.NewClient()
	defer bc.Close()
	sender, err := b.inputsSender(st, bc)
	if err != nil {
		return Result{}, err
	}
	rows, err := b.manifestRows()
	if err != nil {
		return Result{}, err
	}
	defer rows.Close()
	cp, err := b.startCopies(ctx, st)
	if err != nil {
		return Result{}, err
	}
	// The sender is next to the client: the budget and the runner see,
	// and record, the row as the manifest gave it.
	run, err := b.newRunner(sp.API(sender.API(client)), st, fileTransport, estimator(sp), cp.onSaved())
	if err != nil {
		cp.stop(ctx)
		return Result{}, err
	}

	// status, cancel and export from another terminal reach this run here.
	ctlBatch := &live.Batch{Path: b.state.path, Store: st, Logger: b.log,
		API: func() (live.Canceller, error) { return client, nil }, Pricer: sp.Recorded(),
		Rows: b.shardRows, BudgetUSD: sp.LimitUSD(),
		Run: &live.Run{Owner: owner, Rows: b.shardRows, Snapshot: run.Snapshot, Calls: client.Calls}}
	defer b.serveControl(ctlBatch).Close()

	stopProgress := func() {}
	if b.c.Progress != nil {
		stopProgress = b.c.Progress(ctlBatch.Run)
	}
	sum, runErr := run.Run(ctx, shard.Filter(rows, b.spec))
	stopProgress()
	res := Result{StatePath: b.state.path, Budget: sp.Budget}
	res.Spend, res.HasSpend = b.accountSpend(ctx, st, sp, &sum)
	if ctx.Err() == nil {
		compactState(ctx, st, b.log)
	}
	b.writeCSVIndex(ctx, ctlBatch)
	copyErr := b.finishCopies(ctx, cp, ctlBatch, &sum)
	res.Summary, res.Calls, res.Inputs = sum, client.Calls(), sender.Stats()
	b.logInputs(ctx, res.Inputs)
	if err := sp.Stop(runErr, sum); err != nil {
		return res, err
	}
	// Files waiting for the bucket are all a finished run has left to do.
	return res, copyErr
}

// bindAndCount binds the state file to this API and model, and records the
// manifest's rows (the shard's) for the batch's account: status and report
// count the rows no run has reached yet as not submitted.
func (b *batch) bindAndCount(ctx context.Context, st *store.Store) error {
	if err := bindState(ctx, st, b.c, b.log); err != nil {
		return err
	}
	if err := st.SetMeta(ctx, account.RowsMetaKey, strconv.Itoa(b.shardRows)); err != nil {
		return fmt.Errorf("record the manifest's rows in the state file: %w", err)
	}
	return nil
}

// accountSpend fills the summary's spend from the state file, as status
// reads it: reported, estimated, and what is left of the budget. It returns
// what it read, for this run's part of the spend.
func (b *batch) accountSpend(ctx context.Context, st money.BriefScanner, sp *money.Batch, sum *runner.Summary) (money.SpendReport, bool) {
	r, err := sp.SpendOf(context.WithoutCancel(ctx), st, *sum)
	if err != nil {
		b.log.Warn("spend not read from the state", "err", err)
		return money.SpendReport{}, false
	}
	sum.Account.Spend = sp.Account(r)
	return r, true
}

// openState opens the state file for the run, once the folder's split is
// claimed (other splits find the state file), and says which request IDs
// came from the recovery journal.
func (b *batch) openState(owner store.Owner) (*store.Store, error) {
	if err := b.claimSplit(); err != nil {
		return nil, err
	}
	if b.c.OnSplitClaimed != nil {
		b.c.OnSplitClaimed()
	}
	st, err := b.state.openForRun(owner, time.Now(), b.log)
	if err != nil {
		return nil, err
	}
	for _, e := range st.Journaled() {
		b.log.Warn("request ID recorded from the recovery journal: the job is polled, not submitted again",
			"key", e.Key, "request_id", e.RequestID)
	}
	bad, aside := st.JournalRefused()
	for _, l := range bad {
		b.log.Warn("recovery journal line not applied; the journal is kept for you to read", "err", l, "kept_as", aside)
	}
	return st, nil
}

// newAPIClient builds the Model API client, paced by RPS.
func newAPIClient(c Config, tr http.RoundTripper, log *slog.Logger) (*api.Client, error) {
	var limiter *rate.Limiter
	if c.RPS > 0 {
		// Burst 1: requests leave evenly spaced. An API that allows R/s
		// with some burst then has that burst left to absorb the jitter
		// between our send and its arrival; a client bursting as much as
		// the server allows sits on the edge and draws 429s (measured:
		// burst R/10 drew 36 of them at 20/s, and the cuts they caused
		// halved the rate).
		limiter = api.NewLimiter(c.RPS, c.Concurrency)
	}
	return api.New(api.Config{
		BaseURL:    c.APIBase,
		BalanceURL: c.BalanceBase,
		Token:      c.Token,
		HTTPClient: &http.Client{Transport: tr},
		Limiter:    limiter,
		Logger:     log,
	})
}

// newRunner builds the runner from the options.
func (b *batch) newRunner(client runner.API, st runner.Checkpoint, fileTransport http.RoundTripper, est results.Estimator,
	onSaved func(context.Context, store.Job)) (*runner.Runner, error) {
	c := b.c
	return runner.New(runner.Config{
		Model:               c.Model,
		OutDir:              c.Out,
		Concurrency:         c.Concurrency,
		DownloadConcurrency: c.DownloadConcurrency,
		HoldUncertain:       c.HoldUncertain,
		MaxResends:          c.MaxResends,
		RetryFailed:         c.RetryFailed,
		JobTimeout:          c.JobTimeout,
		OutageLimit:         c.OutageLimit,
		Deadline:            c.Deadline,
		DeadlineGrace:       c.DeadlineGrace,
		MaxSubmits:          c.MaxSubmits,
		ExpectRows:          b.shardRows,
		Poll:                pollWithRate(c.Poll, c.RPS),
		Download:            runner.DownloadConfig{MaxBytes: c.MaxFileSize, IdleTimeout: c.DownloadIdleTimeout},
		Hooks:               c.Hooks,
		IndexName:           b.spec.IndexName("jsonl"),
		EstimateCost:        est,
		OnSaved:             onSaved,
		// Result files live on a storage host: this client never carries the token.
		HTTPClient: &http.Client{Transport: fileTransport},
		Logger:     b.log,
	}, client, st)
}

// serveControl listens on the state file's control socket; without one,
// the run goes on. The result's Close is safe when nil.
func (b *batch) serveControl(lb *live.Batch) *live.Server {
	ctl, err := live.Listen(live.SocketPath(b.state.path), lb)
	if err != nil {
		b.log.Warn("no control socket: status, cancel and export must wait for this run to end", "err", err)
	}
	if ctl != nil && b.c.OnLive != nil {
		b.c.OnLive(ctl.Path())
	}
	return ctl
}

// writeCSVIndex writes results.csv beside results.jsonl (ResultsFormat csv).
func (b *batch) writeCSVIndex(ctx context.Context, lb *live.Batch) {
	if b.resultsFormat != results.CSV {
		return
	}
	path := filepath.Join(b.c.Out, b.spec.IndexName("csv"))
	o := results.WriteOptions{Format: results.CSV, Path: path,
		Layout: results.CSVLayout{Fields: exportFields(b.schema), Kept: b.kept}}
	if _, err := results.WriteIndex(context.WithoutCancel(ctx), o, lb); err != nil {
		b.log.Warn("results index not written", "file", path, "err", err)
	}
}

// pollWithRate gives the poll policy the run's call budget: what it may
// spend noticing finishes sooner while rows wait for a slot.
func pollWithRate(p runner.PollConfig, rps float64) runner.PollConfig {
	p.Rate = rps
	return p
}
