package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/progress"
	"github.com/pikabatch/pikabatch/runner/reasons"
	"github.com/pikabatch/pikabatch/runner/redact"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// errManifest marks a manifest that cannot be read at all (exit 65).
var errManifest = errors.New("manifest")

// unreadableManifest marks err with errManifest without adding to its
// message, which already names the manifest.
type unreadableManifest struct{ err error }

func (u unreadableManifest) Error() string   { return u.err.Error() }
func (u unreadableManifest) Unwrap() []error { return []error{errManifest, u.err} }

const defaultModel = "pika/pika-2-2/image-to-video"

// batchOptions are the settings of a run, from flags or from the demo.
type batchOptions struct {
	manifest, format, out, state string
	model, apiBase               string
	schema                       string            // --schema: the model's input schema, a JSON Schema file
	columnMap                    map[string]string // --map: model field → manifest column
	keepColumns                  []string          // --keep-columns: columns carried into the results
	token                        api.Token
	concurrency, dlConcurrency   int
	rps                          float64
	holdUncertain, retryFailed   bool
	maxResends                   int
	jobTimeout                   time.Duration
	outageLimit                  time.Duration // how long the API may fail every call
	maxFileSize                  int64
	dlIdleTimeout                time.Duration // a download that brings no byte this long is retried
	logFormat, logLevel          string
	quiet, jsonSummary, verbose  bool
	poll                         runner.PollConfig
	resultsFormat                string // jsonl, or csv for results.csv as well
	dryRun                       bool
	fresh                        bool          // start over a missing or damaged state
	bindOrigin                   string        // what the state file is bound to, if not --api-base's origin (the demo)
	progress                     string        // --progress: auto, bar, plain, off
	progressEvery                time.Duration // plain progress lines this often
	deadline, deadlineGrace      time.Duration
	maxSubmits                   int
	notifyURL                    string
	shard                        string // --shard K/N or auto/N
	cost                         costOptions

	// Test seams: runner hooks, a call once the control socket listens,
	// and one between the split check and the state file's creation.
	hooks          runner.Hooks
	onLive         func(socket string)
	onSplitClaimed func() // the split is checked, no state file opened yet
}

func (o *batchOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.manifest, "manifest", "", "manifest `file` (CSV or JSONL), one row per clip")
	fs.StringVar(&o.format, "format", "auto", "manifest format: auto (by extension), csv or jsonl")
	fs.StringVar(&o.out, "out", "", "output `folder` for videos, state and results index (created if missing)")
	fs.StringVar(&o.state, "state", "", "checkpoint `file` (default OUT/.pikabatch.db)")
	fs.StringVar(&o.model, "model", defaultModel, "model ID")
	fs.StringVar(&o.schema, "schema", "", "the model's input schema, a JSON Schema `file` (offline; default: the built-in one of pika/pika-2-2/image-to-video, else the one the state file recorded, else the catalog's)")
	registerColumnFlags(fs, &o.columnMap, &o.keepColumns)
	fs.StringVar(&o.apiBase, "api-base", envOr("RUNCOMFY_API_BASE", "https://model-api.runcomfy.net"), "API base URL (env RUNCOMFY_API_BASE); https unless loopback")
	fs.IntVar(&o.concurrency, "concurrency", 8, "jobs in flight on the API at once (submitted, not finished)")
	fs.IntVar(&o.dlConcurrency, "download-concurrency", 8, "downloads at once")
	fs.Float64Var(&o.rps, "rps", 10, "API requests per second, all kinds together (0 = unlimited; otherwise at least 0.01)")
	fs.BoolVar(&o.holdUncertain, "hold-uncertain", false, "hold submits whose outcome was lost instead of re-sending them once")
	fs.IntVar(&o.maxResends, "max-resends", 1, "times one row may be re-sent after its submit's answer was lost (each a possible duplicate charge)")
	fs.BoolVar(&o.retryFailed, "retry-failed", false, "submit failed, timed-out, expired and cancelled rows again")
	fs.DurationVar(&o.jobTimeout, "job-timeout", 0, "give up on a job not finished this long after submit (0 = never); one that completes later is still collected by the next run")
	fs.DurationVar(&o.outageLimit, "outage-limit", 5*time.Minute, "how long the API may fail every call, uncertain submit answers included, before the run stops (exit 69; jobs stay in flight for the next run)")
	fs.Int64Var(&o.maxFileSize, "max-file-size", 2<<30, "refuse result files larger than this many `bytes` (2 GiB, where RunComfy's own CLI stops); the row fails, its render is kept for a larger cap, and the partial file is deleted")
	fs.DurationVar(&o.dlIdleTimeout, "download-idle-timeout", 60*time.Second, "retry a download (resuming it) when the file host sends nothing for this long")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "", "log level: debug, info, warn, error (default info; warn beside a progress bar, unless -v)")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "log each job's progress (INFO lines) even beside a progress bar, where it would bury the bar's notices")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, quietUsage)
	fs.BoolVar(&o.jsonSummary, "json", false, "print the summary as JSON")
	fs.StringVar(&o.resultsFormat, "results-format", "jsonl", "results index format: jsonl (OUT/results.jsonl), or csv to write OUT/results.csv as well")
	fs.StringVar(&o.progress, "progress", progress.Auto, "progress display on stderr: auto (a bar on a terminal, plain lines otherwise), bar, plain or off")
	fs.DurationVar(&o.progressEvery, "progress-interval", 30*time.Second, "how often a plain progress line is printed (--progress plain, or off a terminal)")
	fs.Var(&deadlineFlag{now: time.Now, d: &o.deadline}, "deadline", "stop submitting `when`: this long after the start (5h30m) or at this time (06:00, the next one; or RFC 3339), collect jobs in flight for --deadline-grace, exit 75 if rows remain (default none)")
	fs.DurationVar(&o.deadlineGrace, "deadline-grace", 5*time.Minute, "after --deadline, how long jobs in flight are still collected (0 = not at all; they resume next run)")
	fs.IntVar(&o.maxSubmits, "max-submits", 0, "spending cap: at most `N` submits (paid jobs) this run; exit 75 if rows remain (0 = no cap)")
	fs.StringVar(&o.notifyURL, "notify-url", "", "POST the JSON summary to this `URL` when the run ends; Slack-style webhooks accept it (or env PIKABATCH_NOTIFY_URL)")
	fs.StringVar(&o.shard, "shard", "", "render only shard `K/N` of the manifest (K from 0; auto/N reads K from JOB_COMPLETION_INDEX), with state OUT/.pikabatch-K-of-N.db")
	fs.BoolVar(&o.fresh, "fresh", false, "start over when the state file is missing (beside earlier renders) or damaged: a damaged file is kept as STATE.damaged-TIME, and every row is submitted, and paid for, again")
	o.cost.registerPreview(fs)
	o.cost.registerRun(fs)
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what a run would do against the state file (new, resumable, done, failed, changed); send nothing")
}

// runDefaults returns the options of a run given no flags: the demo
// starts from them.
func runDefaults() batchOptions {
	var o batchOptions
	o.register(pflag.NewFlagSet("pikabatch run", pflag.ContinueOnError))
	return o
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var o batchOptions
	c := &cobra.Command{
		Use:   "run --manifest FILE --out DIR",
		Short: "Render a manifest (resumable)",
		Long: `Render a manifest: every row is checked before anything is sent, then
submitted, polled and downloaded into --out. Run the same command again
to resume: nothing is submitted twice.

Token: RUNCOMFY_API_TOKEN, or RUNCOMFY_API_TOKEN_FILE (a file holding it),
or RUNCOMFY_TOKEN (as RunComfy's own CLI reads it).`,
		Example: `  # render a manifest into out/; the same command again resumes it
  pikabatch run --manifest clips.csv --out out

  # what a run would do against the state file; nothing is sent
  pikabatch run --manifest clips.csv --out out --dry-run

  # a nightly window: stop submitting at 06:00, pay for at most 500 jobs
  pikabatch run --manifest clips.csv --out out --deadline 06:00 --max-submits 500`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runRun(c.Context(), o, stdout, stderr)
		},
	}
	o.register(c.Flags())
	markRequired(c, "manifest", "out")
	completeWords(c, "format", "auto", "csv", "jsonl")
	completeWords(c, "results-format", "jsonl", "csv")
	completeWords(c, "progress", progress.Auto, progress.Bar, progress.Plain, progress.Off)
	completeWords(c, "log-format", "text", "json")
	completeWords(c, "log-level", "debug", "info", "warn", "error")
	return c
}

// runRun is the run command. The flag's zero means "never", which a
// download cannot afford; runBatch's callers in tests leave it zero for
// the runner's default.
func runRun(ctx context.Context, o batchOptions, stdout, stderr io.Writer) error {
	if o.dlIdleTimeout <= 0 {
		return usagef("--download-idle-timeout must be positive, not %s", o.dlIdleTimeout)
	}
	return runBatch(ctx, o, stdout, stderr)
}

// tokenFromEnv reads RUNCOMFY_API_TOKEN, else the file
// RUNCOMFY_API_TOKEN_FILE names, else RUNCOMFY_TOKEN: the name RunComfy's
// own CLI and ComfyUI nodes read, so a machine set up for them needs
// nothing more.
func tokenFromEnv() (api.Token, error) {
	if t := strings.TrimSpace(os.Getenv("RUNCOMFY_API_TOKEN")); t != "" {
		return api.Token(t), nil
	}
	if p := os.Getenv("RUNCOMFY_API_TOKEN_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("read RUNCOMFY_API_TOKEN_FILE: %w: %w", api.ErrNoToken, err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return api.Token(t), nil
		}
		return "", fmt.Errorf("RUNCOMFY_API_TOKEN_FILE %s is empty: %w", p, api.ErrNoToken)
	}
	if t := strings.TrimSpace(os.Getenv("RUNCOMFY_TOKEN")); t != "" {
		return api.Token(t), nil
	}
	return "", fmt.Errorf("set RUNCOMFY_API_TOKEN (or RUNCOMFY_API_TOKEN_FILE, or RUNCOMFY_TOKEN): %w", api.ErrNoToken)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// runBatch validates the manifest, opens the store and runs the batch, or
// prints its plan (--dry-run).
func runBatch(ctx context.Context, o batchOptions, stdout, stderr io.Writer) error {
	b, err := prepareBatch(ctx, o, stderr)
	if err != nil {
		return err
	}
	if o.dryRun {
		return b.preview(ctx, stdout)
	}
	return b.run(ctx, stdout, stderr)
}

// batch is a run as runBatch prepares it, before anything is opened.
type batch struct {
	o             batchOptions
	spec          shard.Spec
	format        manifest.Format
	schema        *manifest.Schema
	kept          []string         // the kept columns seen, for results.csv
	counted       manifest.Summary // the validation pass's, to size the run's reader once
	resultsFormat results.Format
	logs          *progress.LogSink
	log           *slog.Logger
	progress      string // progressMode's
	shardRows     int    // rows of the manifest the shard owns (all without --shard)
	state         stateFile
	// inputSchema is the model's JSON Schema, from the state file or the
	// catalog (schema.go); nil for the built-in one. Recorded only, until
	// manifest can compile it.
	inputSchema json.RawMessage
}

// prepareBatch checks the options, validates every row of the manifest,
// finds the state file and reads the token: an invalid manifest costs
// nothing, and every mistake in the command line (exit 64) is found before
// a missing token (77).
func prepareBatch(ctx context.Context, o batchOptions, stderr io.Writer) (*batch, error) {
	var err error
	b := &batch{o: o}
	if err := b.checkOptions(); err != nil {
		return nil, err
	}
	b.logs = progress.SinkOf(stderr)
	if b.progress, err = progressMode(o.progress, o.quiet, b.logs.Fallback()); err != nil {
		return nil, err
	}
	if b.log, err = newLogger(b.logs, o.logFormat, logLevel(o, b.progress), o.quiet); err != nil {
		return nil, err
	}
	if err := b.validateManifest(ctx); err != nil {
		return nil, err
	}
	if err := b.findState(); err != nil {
		return nil, err
	}
	if o.token == "" && !o.dryRun {
		if b.o.token, err = tokenFromEnv(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// checkOptions refuses options no run can start with (exit 64) and parses
// the ones given as words.
func (b *batch) checkOptions() error {
	o := &b.o
	if o.manifest == "" || o.out == "" {
		return usagef("--manifest and --out are required")
	}
	if err := requireRegularManifest(o.manifest, "run"); err != nil {
		return err
	}
	if err := requireFolder(o.out); err != nil {
		return err
	}

	if o.concurrency < 1 || o.dlConcurrency < 1 {
		return usagef("--concurrency and --download-concurrency must be at least 1")
	}
	if err := checkRPS(o.rps); err != nil {
		return err
	}
	if err := o.cost.check(); err != nil {
		return err
	}
	if o.deadline < 0 || o.deadlineGrace < 0 || o.maxSubmits < 0 || o.outageLimit < 0 || o.jobTimeout < 0 {
		return usagef("--deadline, --deadline-grace, --max-submits, --outage-limit and --job-timeout must not be negative")
	}
	var err error
	if b.spec, err = shard.Parse(o.shard, os.Getenv); err != nil {
		return usagef("--shard: %v", err)
	}
	if o.notifyURL == "" {
		o.notifyURL = os.Getenv("PIKABATCH_NOTIFY_URL")
	}
	if o.notifyURL != "" {
		if err := checkNotifyURL(o.notifyURL); err != nil {
			return err
		}
	}
	if b.format, err = manifest.ParseFormat(o.format); err != nil {
		return usagef("--format: %v", err)
	}
	if b.schema, err = loadSchema(o.model, o.schema); err != nil {
		return err
	}
	b.resultsFormat = results.JSONL
	if o.resultsFormat != "" {
		if b.resultsFormat, err = results.ParseFormat(o.resultsFormat); err != nil {
			return usagef("--results-format: %v", err)
		}
	}
	return nil
}

// manifestConfig says how the batch's manifest is read.
func (b *batch) manifestConfig() manifest.Config {
	return manifest.Config{Format: b.format, Schema: b.schema, Map: b.o.columnMap, Keep: b.o.keepColumns,
		Reserved: results.OwnColumns(), Expect: b.counted}
}

// requireFolder refuses an --out that exists and is not a folder (exit 73):
// no video, state or index could be written into it.
func requireFolder(out string) error {
	fi, err := os.Stat(out)
	if err != nil || fi.IsDir() {
		return nil // missing: created by the run; unreadable: reported there
	}
	return fmt.Errorf("--out %s is a file, not a folder: give a folder for the videos, the state and the index: %w", out, runner.ErrOutput)
}

// validateManifest checks every row before anything is sent, and counts
// the shard's.
func (b *batch) validateManifest(ctx context.Context) error {
	if b.schema == nil {
		return nil // checked once the state file or the catalog gives the schema (adoptSchema)
	}
	msum, err := manifest.ValidateConfig(ctx, b.o.manifest, b.manifestConfig(), func(row manifest.Row) error {
		if b.spec.Owns(row.Key) {
			b.shardRows++
		}
		return nil
	})
	if err != nil {
		return manifestError(err)
	}
	b.log.Info("manifest valid", "file", b.o.manifest, "rows", msum.Rows)
	b.kept = msum.Kept
	b.counted = msum
	if b.spec.IsSet() {
		b.log.Info("shard", "shard", b.spec.String(), "rows", b.shardRows)
	}
	return nil
}

// findState names the state file: --state, or the shard's in --out, which
// must hold no other split's.
func (b *batch) findState() error {
	o := b.o
	b.state = stateFile{path: o.state, out: o.out, custom: o.state != "", spec: b.spec, fresh: o.fresh}
	if o.state != "" {
		return nil
	}
	b.state.path = filepath.Join(o.out, b.spec.StateName())
	// Another split's state files know what was submitted under it;
	// this split would never read them and submit those rows again.
	// (Checked again, and recorded, under the folder's lock: claimSplit.)
	other, err := shard.OtherSplits(o.out, b.spec)
	if err != nil {
		return err
	}
	if len(other) > 0 {
		return b.otherSplit(strings.Join(other, ", "))
	}
	f, err := store.ReadFolder(o.out)
	if err != nil {
		return err
	}
	if f.Shards != nil && *f.Shards != b.spec.N {
		return b.otherSplit(fmt.Sprintf("%s records %s", store.FolderRecordName, splitWords(*f.Shards)))
	}
	return nil
}

// preview prints the plan of the batch against its state file (--dry-run).
func (b *batch) preview(ctx context.Context, stdout io.Writer) error {
	readState, err := b.state.checkForDryRun(b.log)
	if err != nil {
		return err
	}
	if b.schema == nil {
		if err := b.previewSchema(ctx, readState); err != nil {
			return err
		}
	}
	if readState {
		if err := b.previewKeySchema(ctx); err != nil {
			return err
		}
	}
	rows, err := manifestRows(b.o.manifest, b.manifestConfig())
	if err != nil {
		return err
	}
	defer rows.Close()
	return dryRun(ctx, b.o, shard.Filter(rows, b.spec), b.state.path, readState, b.log, stdout)
}

// run opens the state file, runs the batch and reports how it went.
func (b *batch) run(ctx context.Context, stdout, stderr io.Writer) error {
	o := b.o
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("%w: %w", runner.ErrOutput, err)
	}
	owner := store.CurrentOwner(redact.Args(os.Args, secretFlags...))
	st, err := b.openState(owner)
	if err != nil {
		return err
	}
	defer st.Close()

	// Idle connections are closed at the end, so that a server shutting
	// down (the simulator in the demo and the tests) need not wait for them.
	apiTransport, fileTransport := transport(o.concurrency), transport(o.dlConcurrency)
	defer apiTransport.CloseIdleConnections()
	defer fileTransport.CloseIdleConnections()
	client, err := newAPIClient(o, apiTransport, b.log)
	if err != nil {
		return err
	}
	// Before anything is sent: this folder's jobs belong to one API and model.
	if err := b.bindAndCount(ctx, st); err != nil {
		return err
	}
	sp, err := b.prepareCatalog(ctx, st, apiTransport)
	if err != nil {
		return err
	}
	run, err := b.newRunner(sp.API(client), st, fileTransport, estimator(sp))
	if err != nil {
		return err
	}
	rows, err := manifest.OpenConfig(o.manifest, b.manifestConfig())
	if err != nil {
		return manifestError(err)
	}
	defer rows.Close()

	// status, cancel and export from another terminal reach this run here.
	ctlBatch := &live.Batch{Path: b.state.path, Store: st, Logger: b.log,
		API: func() (live.Canceller, error) { return client, nil }, Pricer: sp.Recorded(),
		Rows: b.shardRows, BudgetUSD: sp.LimitUSD(),
		Run: &live.Run{Owner: owner, Rows: b.shardRows, Snapshot: run.Snapshot, Calls: client.Calls}}
	defer b.serveControl(ctlBatch).Close()

	stopProgress := progress.Start(b.progress, o.progressEvery, b.logs.Fallback(), b.logs, ctlBatch.Run, b.jsonLog())
	sum, runErr := run.Run(ctx, shard.Filter(rows, b.spec))
	stopProgress()
	spent, spentOK := b.accountSpend(ctx, st, sp, &sum)
	if ctx.Err() == nil {
		compactState(ctx, st, b.log)
	}
	b.writeCSVIndex(ctx, ctlBatch)
	runErr = b.finish(stdout, stderr, sp, spent, spentOK, sum, client.Calls(), runErr)
	b.notify(ctx, sum, client.Calls(), runErr)
	return runErr
}

// finish prints the run's summary and spend, and returns the run's error
// as the exit line tells it: a summary that cannot be printed fails the
// run (it is the run's answer), and a stop at the budget is said as such.
func (b *batch) finish(stdout, stderr io.Writer, sp *money.Batch, spent money.SpendReport, spentOK bool,
	sum runner.Summary, calls api.Calls, runErr error) error {
	if perr := printSummary(stdout, sum, calls, b.o.jsonSummary); perr != nil {
		runErr = errors.Join(runErr, perr)
	}
	if spentOK {
		b.reportRunSpend(stdout, stderr, sp, spent)
	}
	return sp.Stop(runErr, sum)
}

// bindAndCount binds the state file to this API and model, and records the
// manifest's rows (the shard's) for the batch's account: status and report
// count the rows no run has reached yet as not submitted.
func (b *batch) bindAndCount(ctx context.Context, st *store.Store) error {
	if err := bindState(ctx, st, b.o, b.log); err != nil {
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
	if b.o.onSplitClaimed != nil {
		b.o.onSplitClaimed()
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

// newAPIClient builds the Model API client, paced by --rps.
func newAPIClient(o batchOptions, tr http.RoundTripper, log *slog.Logger) (*api.Client, error) {
	var limiter *rate.Limiter
	if o.rps > 0 {
		// Burst 1: requests leave evenly spaced. An API that allows R/s
		// with some burst then has that burst left to absorb the jitter
		// between our send and its arrival; a client bursting as much as
		// the server allows sits on the edge and draws 429s (measured:
		// burst R/10 drew 36 of them at 20/s, and the cuts they caused
		// halved the rate).
		limiter = api.NewLimiter(o.rps, o.concurrency)
	}
	return api.New(api.Config{
		BaseURL:    o.apiBase,
		BalanceURL: o.cost.balanceBase,
		Token:      o.token,
		HTTPClient: &http.Client{Transport: tr},
		Limiter:    limiter,
		Logger:     log,
	})
}

// newRunner builds the runner from the options.
func (b *batch) newRunner(client runner.API, st runner.Checkpoint, fileTransport http.RoundTripper, est results.Estimator) (*runner.Runner, error) {
	o := b.o
	return runner.New(runner.Config{
		Model:               o.model,
		OutDir:              o.out,
		Concurrency:         o.concurrency,
		DownloadConcurrency: o.dlConcurrency,
		HoldUncertain:       o.holdUncertain,
		MaxResends:          o.maxResends,
		RetryFailed:         o.retryFailed,
		JobTimeout:          o.jobTimeout,
		OutageLimit:         o.outageLimit,
		Deadline:            o.deadline,
		DeadlineGrace:       runnerGrace(o.deadlineGrace),
		MaxSubmits:          o.maxSubmits,
		ExpectRows:          b.shardRows,
		Poll:                pollWithRate(o.poll, o.rps),
		Download:            runner.DownloadConfig{MaxBytes: o.maxFileSize, IdleTimeout: o.dlIdleTimeout},
		Hooks:               o.hooks,
		IndexName:           b.spec.IndexName("jsonl"),
		EstimateCost:        est,
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
	if ctl != nil && b.o.onLive != nil {
		b.o.onLive(ctl.Path())
	}
	return ctl
}

// jsonLog is the logger progress lines go to as JSON, if logs are JSON.
func (b *batch) jsonLog() *slog.Logger {
	if b.o.logFormat == "json" {
		return b.log
	}
	return nil
}

// writeCSVIndex writes results.csv beside results.jsonl (--results-format csv).
func (b *batch) writeCSVIndex(ctx context.Context, lb *live.Batch) {
	if b.resultsFormat != results.CSV {
		return
	}
	path := filepath.Join(b.o.out, b.spec.IndexName("csv"))
	o := results.WriteOptions{Format: results.CSV, Path: path,
		Layout: results.CSVLayout{Fields: exportFields(b.schema), Kept: b.kept}}
	if _, err := results.WriteIndex(context.WithoutCancel(ctx), o, lb); err != nil {
		b.log.Warn("results index not written", "file", path, "err", err)
	}
}

// notify posts the summary to --notify-url, if given.
func (b *batch) notify(ctx context.Context, sum runner.Summary, calls api.Calls, runErr error) {
	if b.o.notifyURL == "" {
		return
	}
	code := exitCode(ctx, runErr)
	p := notifyPayload{Version: jsonVersion, Outcome: outcome(code), ExitCode: code, Manifest: b.o.manifest,
		StateFile: b.state.path, Summary: sum, APICalls: calls}
	if runErr != nil {
		p.Error = runErr.Error()
	}
	notify(ctx, b.o.notifyURL, p, b.log)
}

// pollWithRate gives the poll policy the run's call budget: what it may
// spend noticing finishes sooner while rows wait for a slot.
func pollWithRate(p runner.PollConfig, rps float64) runner.PollConfig {
	p.Rate = rps
	return p
}

// minRPS is the slowest --rps taken: one call every 100 s. Below it a run
// would sit for hours waiting for a token (1e-9 waits 30 years) and no
// signal could hurry the call it holds.
const minRPS = 0.01

// checkRPS accepts 0 (unlimited) or a finite rate of at least minRPS.
func checkRPS(rps float64) error {
	if math.IsNaN(rps) || math.IsInf(rps, 0) || rps < 0 || rps > 0 && rps < minRPS {
		return usagef("--rps must be 0 (unlimited) or a number of requests per second from %g up, not %v", minRPS, rps)
	}
	return nil
}

// runnerGrace is --deadline-grace for the runner, whose zero takes the
// default: on the command line, 0 means no grace at all.
func runnerGrace(flag time.Duration) time.Duration {
	if flag == 0 {
		return -1
	}
	return flag
}

func manifestError(err error) error {
	if errors.Is(err, manifest.ErrBadMapping) {
		return usagef("--map: %v", err)
	}
	var ve *manifest.ValidationError
	var re *manifest.RowError
	if errors.As(err, &ve) || errors.As(err, &re) {
		return err
	}
	return unreadableManifest{err}
}

// transport is an HTTP transport sized for n concurrent requests to one host.
func transport(n int) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          n * 2,
		MaxIdleConnsPerHost:   n * 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
}

// logLevel is the level a run logs at: --log-level when given; else info,
// but warnings only beside a progress bar, where a line per job would
// scroll the bar's notices (a stop, the deadline) away, unless -v asks for
// them.
func logLevel(o batchOptions, mode string) string {
	switch {
	case o.logLevel != "":
		return o.logLevel
	case mode == progress.Bar && !o.verbose:
		return "warn"
	}
	return "info"
}

func newLogger(w io.Writer, format, level string, quiet bool) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level: %v", err)
	}
	if quiet && lv < slog.LevelWarn {
		lv = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format must be text or json, not %q", format)
}

// accountLimit says what the run saw of the account's limit on jobs at once
// (runner.Summary.AccountJobs), for the summary and status.
func accountLimit(jobs int) string {
	return fmt.Sprintf("account limit: a submit was refused with %s of this run on the account", plural(jobs, "job"))
}

// printSummary writes the end-of-run account.
func printSummary(w io.Writer, s runner.Summary, calls api.Calls, asJSON bool) error {
	if asJSON {
		return writeJSON(w, runJSONOf(s, calls))
	}
	s.WholeManifest(s.Rows) // a summary made by hand has no ledger yet
	fmt.Fprintf(w, "\n%s\n", s.Account)
	if line := s.Account.Spend.String(); line != "" {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "this run: submitted %d, completed %d, downloaded %d (%d already done), failed %d, cancelled %d, uncertain %d\n",
		s.Submitted, s.Completed, s.Downloaded, s.SkippedDone, s.Failed, s.Cancelled, s.Uncertain)
	if s.FailedBefore > 0 {
		fmt.Fprintf(w, "failed in earlier runs %d (%s): not submitted again; --retry-failed submits them again (each a new charge)\n",
			s.FailedBefore, examples(s.FailedBeforeKeys, s.FailedBefore))
	}
	if s.Uncertain > 0 || s.Resent > 0 {
		// Resent counts re-sends of this run's lost submits and of
		// earlier runs' alike: each is one possible duplicate charge.
		fmt.Fprintf(w, "submits whose answer was lost: %d this run; re-sent %d (up to %d duplicate charges)\n",
			s.Uncertain, s.Resent, s.Resent)
	}
	if s.Held > 0 {
		fmt.Fprintf(w, "held %d: rows whose submit's answer was lost (this run or before) and were not re-sent (--hold-uncertain, --max-resends, or the run stopped)\n",
			s.Held)
	}
	if s.Parked > 0 {
		fmt.Fprintf(w, "left in flight for the next run %d: their status kept failing while other calls went through\n", s.Parked)
	}
	if len(s.StatusWords) > 0 {
		fmt.Fprintf(w, "status words outside the API's docs (jobs taken as still running): %s\n", wordCounts(s.StatusWords))
	}
	if s.Changed > 0 {
		fmt.Fprintf(w, "changed since submitted (skipped) %d\n", s.Changed)
	}
	if s.Orphans > 0 {
		fmt.Fprintf(w, "%s\n", orphanLine(s.Orphans, s.OrphanKeys, s.OrphansInFlight, "collected this run"))
		if s.OrphansInFlight > 0 {
			fmt.Fprintf(w, "orphan renders collected %d of %d (failed %d)\n", s.OrphansCollected, s.OrphansInFlight, s.OrphansFailed)
		}
	}
	// The account's limit on jobs at once refuses submits only: with polls
	// refused too, the refusals were (at least partly) a rate limit's, and
	// the advice would be a guess.
	if s.AccountJobs > 0 && calls.PollsRateLimited == 0 {
		fmt.Fprintf(w, "%s; later ones waited for a job to finish (if the account takes %d at once, --concurrency %d spares the refusals)\n",
			accountLimit(s.AccountJobs), s.AccountJobs, s.AccountJobs)
	}
	// The most frequent reasons first, the folded rest last (reasons.Top).
	for _, r := range reasons.Rank(s.FailReasons) {
		fmt.Fprintf(w, "  failed %4d  %s\n", s.FailReasons[r], r)
	}
	fmt.Fprintf(w, "API calls: submit %d, status %d, result %d, cancel %d (retries %d, rate limited %d); polls per job %.2f\n",
		calls.Submit, calls.Status, calls.Result, calls.Cancel, calls.Retries, calls.RateLimited,
		perJob(s.Polls, s.Completed+s.Failed))
	fmt.Fprintf(w, "downloads retried %d, URLs refreshed %d; wall time %s\n",
		s.DownloadRetries, s.URLRefreshes, s.Wall.Round(time.Millisecond))
	return nil
}

// orphanLine reports the jobs no manifest row claims (runner.Summary.Orphans),
// for the summary and status; inFlight of them had renders to collect.
func orphanLine(n int, keys []string, inFlight int, collect string) string {
	s := fmt.Sprintf("orphans %d (%s): state entries no manifest row claims (id renamed or recased, row edited or given an id); flagged in results.jsonl, never submitted",
		n, examples(keys, n))
	if inFlight > 0 {
		s += fmt.Sprintf("; %d with a render in flight or not downloaded, %s", inFlight, collect)
	}
	return s
}

// wordCounts lists unknown status words with their counts, by word.
func wordCounts(words map[string]int) string {
	keys := make([]string, 0, len(words))
	for k := range words {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q %d", k, words[k])
	}
	return strings.Join(parts, ", ")
}

func perJob(n, jobs int) float64 {
	if jobs == 0 {
		return 0
	}
	return float64(n) / float64(jobs)
}
