package batch

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/results"
)

// DefaultModel is the model a run renders with when none is named.
const DefaultModel = "pika/pika-2-2/image-to-video"

// Config is every setting of one run. Its messages name the command line's
// flags (--manifest, --out…), as the command that fills it reads them.
type Config struct {
	Manifest string // the manifest file, CSV or JSONL; required
	Format   string // auto (by extension), csv or jsonl
	Out      string // the output folder; required, created if missing
	State    string // the state file; default the shard's in Out

	Model       string // the model ID
	APIBase     string // the API base URL
	BalanceBase string // the balance endpoint's base URL; default by APIBase
	// BindOrigin is what the state file is bound to, if not APIBase's
	// origin (the demo's simulator moves between runs).
	BindOrigin string

	Schema      string            // the model's input schema, a JSON Schema file
	ColumnMap   map[string]string // model field → manifest column
	KeepColumns []string          // columns carried into the results

	// StageTo is a bucket URL prefix (s3://bucket/prefix) the manifest's
	// local files are uploaded to, once each, named by their SHA-256, and
	// sent to the API as pre-signed URLs. Inline instead sends them in the
	// request as data: URIs, within the inline caps. With neither, a local
	// file in the manifest is refused.
	StageTo string
	Inline  bool
	// PresignTTL is how long the pre-signed URLs of bucket inputs and
	// staged files are valid; 0 takes inputs.DefaultPresignTTL (a day).
	PresignTTL time.Duration

	// Token is the API token. When it is empty, TokenSource is called once
	// the options and the manifest are checked: an invalid manifest costs
	// nothing and needs no token.
	Token       api.Token
	TokenSource func() (api.Token, error)

	Concurrency, DownloadConcurrency int
	RPS                              float64 // requests per second, 0 unlimited
	HoldUncertain, RetryFailed       bool
	MaxResends                       int
	JobTimeout                       time.Duration
	OutageLimit                      time.Duration // how long the API may fail every call
	MaxFileSize                      int64
	DownloadIdleTimeout              time.Duration // zero takes the runner's default
	Poll                             runner.PollConfig
	ResultsFormat                    string // jsonl, or csv for results.csv as well
	Fresh                            bool   // start over a missing or damaged state
	Deadline                         time.Duration
	DeadlineGrace                    time.Duration // runner.Config's: 0 the default, negative none
	MaxSubmits                       int
	Shard                            string // K/N or auto/N
	// SyncTo is a bucket prefix (s3://, gs://, azblob://) the batch's
	// files are copied to as they are saved, with the index and the
	// dataset metadata at the end of each run; "" copies nothing.
	SyncTo string
	// Getenv reads JOB_COMPLETION_INDEX for Shard auto/N; default os.Getenv.
	Getenv func(string) string

	PriceUSD       float64 // every job costs this, over the catalog
	UseCatalog     bool    // the dry run reads the price from the catalog
	MaxCostUSD     float64 // the batch's budget, across runs
	RequireBalance bool    // refuse to start below the estimate

	// Command is the command line recorded in the state's owner file and
	// shown by status; the caller leaves out secrets (a webhook URL).
	Command string
	// Logger receives the run's logs; default discards them.
	Logger *slog.Logger
	// Progress, if set, starts showing the run's progress once it runs;
	// its stop is called when the pipeline ends.
	Progress func(run *live.Run) (stop func())

	// Test seams: runner hooks, a call once the control socket listens,
	// and one between the split check and the state file's creation.
	Hooks          runner.Hooks
	OnLive         func(socket string)
	OnSplitClaimed func()
}

// minRPS is the slowest RPS taken: one call every 100 s. Below it a run
// would sit for hours waiting for a token (1e-9 waits 30 years) and no
// signal could hurry the call it holds.
const minRPS = 0.01

// CheckRPS accepts 0 (unlimited) or a finite rate of at least one call
// every 100 s.
func CheckRPS(rps float64) error {
	if math.IsNaN(rps) || math.IsInf(rps, 0) || rps < 0 || rps > 0 && rps < minRPS {
		return configf("--rps must be 0 (unlimited) or a number of requests per second from %g up, not %v", minRPS, rps)
	}
	return nil
}

// CheckAmounts refuses a price or a budget no run can use.
func CheckAmounts(priceUSD, maxCostUSD float64) error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"--price", priceUSD}, {"--max-cost", maxCostUSD}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return configf("%s must be a non-negative number of dollars, not %v", f.name, f.v)
		}
	}
	// Beyond these, no job costs that and the budget cannot count it.
	if priceUSD > money.MaxJobUSD {
		return configf("%v", money.PricerFor(api.Model{}, priceUSD).Check())
	}
	if maxCostUSD > money.MaxBudgetUSD {
		return configf("--max-cost must be at most %s, not %g", money.USD(money.MaxBudgetUSD), maxCostUSD)
	}
	return nil
}

// checkOptions refuses options no run can start with and parses the ones
// given as words.
func (b *batch) checkOptions() error {
	c := &b.c
	if c.Manifest == "" || c.Out == "" {
		return configf("--manifest and --out are required")
	}
	if err := RequireRegularManifest(c.Manifest, "run"); err != nil {
		return err
	}
	if err := RequireFolder(c.Out); err != nil {
		return err
	}
	if c.Concurrency < 1 || c.DownloadConcurrency < 1 {
		return configf("--concurrency and --download-concurrency must be at least 1")
	}
	if err := CheckRPS(c.RPS); err != nil {
		return err
	}
	if err := CheckAmounts(c.PriceUSD, c.MaxCostUSD); err != nil {
		return err
	}
	if c.Deadline < 0 || c.MaxSubmits < 0 || c.OutageLimit < 0 || c.JobTimeout < 0 {
		return configf("--deadline, --deadline-grace, --max-submits, --outage-limit and --job-timeout must not be negative")
	}
	if err := b.checkInputs(); err != nil {
		return err
	}
	return b.parseWords()
}

// parseWords parses the options given as words: the shard, the formats,
// the schema file.
func (b *batch) parseWords() error {
	c := &b.c
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var err error
	if b.spec, err = shard.Parse(c.Shard, getenv); err != nil {
		return configf("--shard: %v", err)
	}
	if b.format, err = manifest.ParseFormat(c.Format); err != nil {
		return configf("--format: %v", err)
	}
	if b.schema, err = LoadSchema(c.Model, c.Schema); err != nil {
		return err
	}
	if err := b.parseSyncTo(); err != nil {
		return err
	}
	b.resultsFormat = results.JSONL
	if c.ResultsFormat != "" {
		if b.resultsFormat, err = results.ParseFormat(c.ResultsFormat); err != nil {
			return configf("--results-format: %v", err)
		}
	}
	return nil
}

// RequireFolder refuses an out that exists and is not a folder
// (runner.ErrOutput): no video, state or index could be written into it.
func RequireFolder(out string) error {
	fi, err := os.Stat(out)
	if err != nil || fi.IsDir() {
		return nil // missing: created by the run; unreadable: reported there
	}
	return fmt.Errorf("--out %s is a file, not a folder: give a folder for the videos, the state and the index: %w", out, runner.ErrOutput)
}

// RequireRegularManifest refuses a manifest that is a pipe, a socket or a
// device; cmd names the command. A run reads the manifest twice (every
// row is checked before anything is sent, then it is read again to
// submit), as does validate --check-urls, and a pipe such as --manifest
// /dev/stdin yields its rows only once, so the second pass found it empty
// after the first had called it valid. A hidden copy would work, but
// would put a manifest of any size on a disk the user did not choose, and
// a resume needs the same manifest again anyway: a file is the honest
// answer. A directory or a missing file is left to the reader, which
// names the problem.
func RequireRegularManifest(path, cmd string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().IsRegular() || fi.IsDir() {
		return nil
	}
	kind := "not a regular file"
	switch m := fi.Mode(); {
	case m&os.ModeNamedPipe != 0:
		kind = "a pipe"
	case m&os.ModeSocket != 0:
		kind = "a socket"
	case m&os.ModeDevice != 0:
		kind = "a device"
	}
	return configf("--manifest %s is %s: %s reads the manifest twice (once to check every row before anything is sent, then again), and a pipe gives its rows only once; write it to a file first (for example: make-manifest > clips.csv) and pass that", path, kind, cmd)
}
