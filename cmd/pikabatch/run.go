package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/progress"
	"github.com/pikabatch/pikabatch/runner/redact"
)

const defaultModel = batch.DefaultModel

// batchOptions are the settings of a run, from flags or from the demo:
// the library's Config, which most flags set as they are, and what only
// the command does with them (logs, progress, printing, the notice).
type batchOptions struct {
	cfg                         batch.Config
	logFormat, logLevel         string
	quiet, jsonSummary, verbose bool
	dryRun                      bool
	progress                    string        // --progress: auto, bar, plain, off
	progressEvery               time.Duration // plain progress lines this often
	deadlineGrace               time.Duration // 0 on the command line: none (runnerGrace)
	notifyURL                   string
}

func (o *batchOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.cfg.Manifest, "manifest", "", "manifest `file` (CSV or JSONL), one row per clip")
	fs.StringVar(&o.cfg.Format, "format", "auto", "manifest format: auto (by extension), csv or jsonl")
	fs.StringVar(&o.cfg.Out, "out", "", "output `folder` for videos, state and results index (created if missing)")
	fs.StringVar(&o.cfg.State, "state", "", "checkpoint `file` (default OUT/.pikabatch.db)")
	fs.StringVar(&o.cfg.Model, "model", defaultModel, "model ID")
	fs.StringVar(&o.cfg.Schema, "schema", "", "the model's input schema, a JSON Schema `file` (offline; default: the built-in one of pika/pika-2-2/image-to-video, else the one the state file recorded, else the catalog's)")
	registerColumnFlags(fs, &o.cfg)
	fs.StringVar(&o.cfg.APIBase, "api-base", envOr("RUNCOMFY_API_BASE", "https://model-api.runcomfy.net"), "API base URL (env RUNCOMFY_API_BASE); https unless loopback")
	fs.IntVar(&o.cfg.Concurrency, "concurrency", 8, "jobs in flight on the API at once (submitted, not finished)")
	fs.IntVar(&o.cfg.DownloadConcurrency, "download-concurrency", 8, "downloads at once")
	fs.Float64Var(&o.cfg.RPS, "rps", 10, "API requests per second, all kinds together (0 = unlimited; otherwise at least 0.01)")
	fs.BoolVar(&o.cfg.HoldUncertain, "hold-uncertain", false, "hold submits whose outcome was lost instead of re-sending them once")
	fs.IntVar(&o.cfg.MaxResends, "max-resends", 1, "times one row may be re-sent after its submit's answer was lost (each a possible duplicate charge)")
	fs.BoolVar(&o.cfg.RetryFailed, "retry-failed", false, "submit failed, timed-out, expired and cancelled rows again")
	fs.DurationVar(&o.cfg.JobTimeout, "job-timeout", 0, "give up on a job not finished this long after submit (0 = never); one that completes later is still collected by the next run")
	fs.DurationVar(&o.cfg.OutageLimit, "outage-limit", 5*time.Minute, "how long the API may fail every call, uncertain submit answers included, before the run stops (exit 69; jobs stay in flight for the next run)")
	fs.Int64Var(&o.cfg.MaxFileSize, "max-file-size", 2<<30, "refuse result files larger than this many `bytes` (2 GiB, where RunComfy's own CLI stops); the row fails, its render is kept for a larger cap, and the partial file is deleted")
	fs.DurationVar(&o.cfg.DownloadIdleTimeout, "download-idle-timeout", 60*time.Second, "retry a download (resuming it) when the file host sends nothing for this long")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "", "log level: debug, info, warn, error (default info; warn beside a progress bar, unless -v)")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "log each job's progress (INFO lines) even beside a progress bar, where it would bury the bar's notices")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, quietUsage)
	fs.BoolVar(&o.jsonSummary, "json", false, "print the summary as JSON")
	fs.StringVar(&o.cfg.ResultsFormat, "results-format", "jsonl", "results index format: jsonl (OUT/results.jsonl), or csv to write OUT/results.csv as well")
	fs.StringVar(&o.progress, "progress", progress.Auto, "progress display on stderr: auto (a bar on a terminal, plain lines otherwise), bar, plain or off")
	fs.DurationVar(&o.progressEvery, "progress-interval", 30*time.Second, "how often a plain progress line is printed (--progress plain, or off a terminal)")
	fs.Var(&deadlineFlag{now: time.Now, d: &o.cfg.Deadline}, "deadline", "stop submitting `when`: this long after the start (5h30m) or at this time (06:00, the next one; or RFC 3339), collect jobs in flight for --deadline-grace, exit 75 if rows remain (default none)")
	fs.DurationVar(&o.deadlineGrace, "deadline-grace", 5*time.Minute, "after --deadline, how long jobs in flight are still collected (0 = not at all; they resume next run)")
	fs.IntVar(&o.cfg.MaxSubmits, "max-submits", 0, "spending cap: at most `N` submits (paid jobs) this run; exit 75 if rows remain (0 = no cap)")
	fs.StringVar(&o.notifyURL, "notify-url", "", "POST the JSON summary to this `URL` when the run ends; Slack-style webhooks accept it (or env PIKABATCH_NOTIFY_URL)")
	fs.StringVar(&o.cfg.SyncTo, "sync-to", "", "copy each video to the bucket prefix `BUCKET_URL` (s3://, gs://, azblob://) once it is safe on disk, and results.jsonl and metadata.jsonl at the end; an unreachable bucket costs no local file and no submit: the copies wait for the next run (exit 75)")
	fs.StringVar(&o.cfg.Shard, "shard", "", "render only shard `K/N` of the manifest (K from 0; auto/N reads K from JOB_COMPLETION_INDEX), with state OUT/.pikabatch-K-of-N.db")
	fs.BoolVar(&o.cfg.Fresh, "fresh", false, "start over when the state file is missing (beside earlier renders) or damaged: a damaged file is kept as STATE.damaged-TIME, and every row is submitted, and paid for, again")
	registerInputs(fs, &o.cfg, true)
	registerPreviewCost(fs, &o.cfg)
	registerRunCost(fs, &o.cfg)
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
to resume: nothing is submitted twice.` + tokenHelp,
		Example: `  # render a manifest into out/; the same command again resumes it
  pikabatch run --manifest clips.csv --out out

  # what a run would do against the state file; nothing is sent
  pikabatch run --manifest clips.csv --out out --dry-run

  # local images: uploaded once to a bucket prefix, sent as pre-signed URLs
  pikabatch run --manifest clips.csv --out out --stage-to s3://my-bucket/pikabatch-in

  # a nightly window: stop submitting at 06:00, pay for at most 500 jobs
  pikabatch run --manifest clips.csv --out out --deadline 06:00 --max-submits 500

  # copy each video, the index and metadata.jsonl to a bucket as they land
  pikabatch run --manifest clips.csv --out out --sync-to s3://renders/batch1`,
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
	if o.cfg.DownloadIdleTimeout <= 0 {
		return usagef("--download-idle-timeout must be positive, not %s", o.cfg.DownloadIdleTimeout)
	}
	return runBatch(ctx, o, stdout, stderr)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// runBatch runs the batch o describes through the library, or previews
// it (--dry-run), and prints what it returns.
func runBatch(ctx context.Context, o batchOptions, stdout, stderr io.Writer) error {
	if err := o.checkFlags(); err != nil {
		return err
	}
	logs := progress.SinkOf(stderr)
	mode, err := progressMode(o.progress, o.quiet, logs.Fallback())
	if err != nil {
		return err
	}
	log, err := newLogger(logs, o.logFormat, logLevel(o, mode), o.quiet)
	if err != nil {
		return err
	}
	cfg := o.config(log)
	if o.dryRun {
		p, err := batch.Preview(ctx, cfg)
		if err != nil {
			return err
		}
		return printPreview(stdout, p, o.jsonSummary)
	}
	cfg.Progress = func(r *live.Run) func() {
		return progress.Start(mode, o.progressEvery, logs.Fallback(), logs, r, jsonLog(o, log))
	}
	res, runErr := batch.Run(ctx, cfg)
	if res.StatePath == "" {
		return runErr // the run never started: nothing to print
	}
	if perr := printSummary(stdout, res.Summary, res.Calls, o.jsonSummary); perr != nil {
		runErr = errors.Join(runErr, perr)
	}
	if res.HasSpend {
		reportRunSpend(stdout, stderr, o.jsonSummary, res.Budget, res.Spend)
	}
	notifyRun(ctx, o, res, runErr, log)
	return runErr
}

// checkFlags refuses what only the command line can get wrong: a
// negative --deadline-grace (the library's zero means the default), and a
// --notify-url (else PIKABATCH_NOTIFY_URL) that is not an absolute http(s)
// URL. The library checks the rest.
func (o *batchOptions) checkFlags() error {
	if o.deadlineGrace < 0 {
		return usagef("--deadline, --deadline-grace, --max-submits, --outage-limit and --job-timeout must not be negative")
	}
	if o.notifyURL == "" {
		o.notifyURL = os.Getenv("PIKABATCH_NOTIFY_URL")
	}
	if o.notifyURL == "" {
		return nil
	}
	return checkNotifyURL(o.notifyURL)
}

// config is the library's configuration of the run o describes.
func (o batchOptions) config(log *slog.Logger) batch.Config {
	c := o.cfg
	c.TokenSource, c.Getenv = api.TokenFromEnv, os.Getenv
	c.DeadlineGrace = runnerGrace(o.deadlineGrace)
	c.Command = redact.Args(os.Args, secretFlags...)
	c.Logger = log
	return c
}

// jsonLog is the logger progress lines go to as JSON, if logs are JSON.
func jsonLog(o batchOptions, log *slog.Logger) *slog.Logger {
	if o.logFormat == "json" {
		return log
	}
	return nil
}

// notifyRun posts the summary to --notify-url, if given.
func notifyRun(ctx context.Context, o batchOptions, res batch.Result, runErr error, log *slog.Logger) {
	if o.notifyURL == "" {
		return
	}
	code := exitCode(ctx, runErr)
	p := notifyPayload{Version: jsonVersion, Outcome: outcome(code), ExitCode: code, Manifest: o.cfg.Manifest,
		StateFile: res.StatePath, Summary: res.Summary, APICalls: res.Calls}
	if runErr != nil {
		p.Error = runErr.Error()
	}
	postNotice(ctx, o.notifyURL, p, log)
}

// runnerGrace is --deadline-grace for the runner, whose zero takes the
// default: on the command line, 0 means no grace at all.
func runnerGrace(flag time.Duration) time.Duration {
	if flag == 0 {
		return -1
	}
	return flag
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

// printSummary writes the end-of-run account.
func printSummary(w io.Writer, s runner.Summary, calls api.Calls, asJSON bool) error {
	if asJSON {
		return writeJSON(w, runJSONOf(s, calls))
	}
	runner.WriteSummary(w, s, calls)
	return nil
}
