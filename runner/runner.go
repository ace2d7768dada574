package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/reasons"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// API is the part of the Model API the runner uses. *api.Client implements it.
type API interface {
	// Submit creates a paid job; it is not idempotent: each send may be
	// charged. The runner always sets opts.SendGate, and every
	// implementation (the client, a decorator, a test double) must call it
	// right before each send and send nothing if it refuses, ending the call
	// with its error: the runner records "submitting" there, so a submit
	// that went out was recorded. A decorator may wrap the gate but must
	// pass it on. It asks opts.Hold what each 429 means (api.SubmitHold).
	// An error matching api.ErrUncertain means the request was sent and its
	// outcome is unknown: a job may exist, and the call must not be retried
	// blindly (see the package doc). api.ErrUnavailable means it was never
	// taken after the client's own retries; api.ErrRejected that the input
	// was refused, which no retry cures. api.ErrUnknownModel,
	// api.ErrUnauthorized and api.ErrPaymentRequired are the account's (or
	// the command's) refusals, not the row's.
	Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error)
	// Status is cheap and idempotent; api.ErrNotFound means the ID is unknown,
	// api.ErrPermissionDenied that it is another account's. A status word
	// outside the docs is api.StatusUnknown, with the word in Word.
	Status(ctx context.Context, requestID string) (api.Status, error)
	// Result is idempotent; before completion it reports the current status.
	Result(ctx context.Context, requestID string) (api.Result, error)
	// Cancel succeeds only while the job is queued (api.ErrNotCancellable otherwise).
	Cancel(ctx context.Context, requestID string) error
}

var _ API = (*api.Client)(nil)

// Checkpoint is the part of the store the runner uses. *store.Store implements it.
type Checkpoint interface {
	Get(ctx context.Context, key string) (store.Job, error)
	Put(ctx context.Context, job store.Job) error
	Update(ctx context.Context, key string, fn func(*store.Job) error) (store.Job, error)
	ForEach(ctx context.Context, fn func(store.Job) error) error
}

var _ Checkpoint = (*store.Store)(nil)

// RowSource yields validated manifest rows; io.EOF ends it. *manifest.Reader implements it.
type RowSource interface {
	Next() (manifest.Row, error)
}

// Config holds the runner's settings. Zero values take the documented defaults.
type Config struct {
	Model  string // model ID; required
	OutDir string // output folder; required, must exist

	// Concurrency is the number of jobs in flight on the API at once
	// (submitted and not yet finished). Default 8.
	Concurrency int
	// DownloadConcurrency bounds simultaneous downloads. Default 8.
	DownloadConcurrency int

	// HoldUncertain keeps uncertain submits unsent instead of re-sending
	// them, which is the default (see the package doc, "Submits whose
	// answers are lost").
	HoldUncertain bool
	// MaxResends is how many times one row's submit may be re-sent after its
	// outcome was lost. Default 1, as the package doc's policy says; each
	// re-send is counted and reported as a possible duplicate charge.
	MaxResends int
	// RetryFailed sends failed, timed-out, expired and cancelled rows again.
	RetryFailed bool
	// JobTimeout marks a job timed out when it has not finished this long
	// after it was submitted (cancelling it if still queued). 0 means never.
	// A timed-out job keeps its request ID, and the next run looks at it
	// once more: a render that could not be cancelled and completed after
	// all is downloaded.
	JobTimeout time.Duration
	// Deadline stops new submits this long after Run starts; 0 means never.
	// Jobs in flight are then collected for DeadlineGrace (0 takes the
	// default, 5m; a negative value means none: they are abandoned at the
	// deadline) and abandoned after it (they resume next run); if rows are
	// left, Run fails with ErrDeadline wrapped in ErrSubmitsStopped.
	Deadline      time.Duration
	DeadlineGrace time.Duration
	// ExpectRows is how many rows the source will yield, when a pass over
	// the manifest has counted them (the validation before a run): the
	// run's set of claimed keys is sized once for them, so that its memory
	// is taken at the start and stays flat. It is also the manifest's size
	// in the run's account: rows a stopped run never read are counted not
	// submitted. 0 means unknown (the account counts the rows read).
	ExpectRows int
	// MaxSubmits caps the submits sent in one run, each a possible charge
	// (a submit the API refused is not counted); 0 means no cap. Rows left
	// over make Run fail with ErrSubmitCap wrapped in ErrSubmitsStopped.
	MaxSubmits int
	// SubmitGrace bounds how long an in-flight submit may go on after the
	// run was asked to stop, so its request ID can still be recorded. Default 15s.
	SubmitGrace time.Duration

	// OutageLimit is how long the API may stay unavailable (every call
	// failing after its retries) before the run gives up. Default 5m.
	OutageLimit time.Duration

	// Poll tunes the polling policy.
	Poll PollConfig

	// Download tunes result downloads.
	Download DownloadConfig

	// IndexName is the results index file in OutDir; default results.IndexFile.
	// Shards sharing a folder each write their own (results-K-of-N.jsonl).
	IndexName string
	// EstimateCost estimates, in the results index, the cost of the jobs
	// sent without a reported one (cost_estimated_usd); nil: none.
	EstimateCost results.Estimator

	// FS is the file system seam; default the real one.
	FS FS
	// HTTPClient fetches result files. It must never carry the API token. Default: a plain client.
	HTTPClient *http.Client

	// OnSaved, when set, is handed each job the run records done, once
	// its files are fsynced under their final names in OutDir: the point
	// from which a copy of them (a bucket's) can never see a partial
	// file. It is called on the download's goroutine, so a slow callee
	// slows the downloads; ctx is the run's.
	OnSaved func(ctx context.Context, job store.Job)

	Logger *slog.Logger
	Now    func() time.Time
	// Hooks let tests observe the pipeline without sleeping.
	Hooks Hooks
}

// Hooks are optional callbacks, called synchronously; tests use them to
// stop a run at an exact point.
type Hooks struct {
	// Submitted is called after a request ID was made durable.
	Submitted func(key, requestID string)
	// Downloaded is called after a job reached done.
	Downloaded func(key string)
	// Orphans is called once the orphans were found and flagged, with
	// their count, before their renders are collected.
	Orphans func(n int)
}

// Runner runs batches: it holds the settings and collaborators, none of
// which a run changes. Each Run keeps its state (figures, limits, pacing)
// in a value of its own (run), so a second Run starts afresh. It is safe
// for one Run at a time.
type Runner struct {
	cfg    Config
	client API // as given to New; each run puts its limits in front (gatedAPI)
	store  Checkpoint
	log    *slog.Logger
	dl     *downloader // without fsync rounds: each run has its own

	// current is the run going on, or the last one: what Snapshot reads.
	current atomic.Pointer[run]
}

// New checks cfg and returns a Runner.
func New(cfg Config, client API, cp Checkpoint) (*Runner, error) {
	if cfg.Model == "" {
		return nil, errors.New("runner: model is required")
	}
	if cfg.OutDir == "" {
		return nil, errors.New("runner: output folder is required")
	}
	if client == nil || cp == nil {
		return nil, errors.New("runner: API client and store are required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.DownloadConcurrency <= 0 {
		cfg.DownloadConcurrency = 8
	}
	if cfg.MaxResends <= 0 {
		cfg.MaxResends = 1
	}
	if cfg.SubmitGrace <= 0 {
		cfg.SubmitGrace = 15 * time.Second
	}
	if cfg.OutageLimit <= 0 {
		cfg.OutageLimit = 5 * time.Minute
	}
	if cfg.FS == nil {
		cfg.FS = OSFS{}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 0}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Runner{cfg: cfg, client: client, store: cp, log: cfg.Logger}
	r.dl = newDownloader(cfg.Download, cfg.FS, cfg.HTTPClient, cfg.OutDir, cfg.Logger)
	r.dl.nameTaken = r.nameTaken
	return r, nil
}

// run is one Run's state: its figures, its limits and stop switch, the
// pacing it learns, its pools. Run creates it, and the Runner keeps the
// last one only for Snapshot; its methods are the pipeline's steps. It
// reads the Runner's settings and collaborators and never changes them
// (it calls the API through api, never r.client).
type run struct {
	*Runner
	api   API       // r.client behind the run's limits (gatedAPI)
	began time.Time // when Run began

	stats       counters
	lateCosts   lateCosts // second looks for a cost (see lateCost)
	lim         limits
	stopSubmits atomic.Bool
	stopErr     atomic.Value // first reason new submits were stopped

	// The pacing this run learns (see the package doc).
	poll    *pollPolicy
	outage  *outage
	answers *answerWatch  // what the submits are answered (answers.go)
	alone   chan struct{} // the turn of the one submit sent at a time while answers are lost
	slots   *jobSlots     // jobs on the API at once

	files     *downloader         // r.dl with this run's shared fsyncs
	downloads *semaphore.Weighted // downloads at once
	// started bounds the jobs started and not yet ended. A rendered job gives
	// its API slot back before it waits for a download slot, so that slow
	// downloads never idle the account; started (two pools and the
	// downloads) caps how many may wait, so that a disk slower than the API
	// slows the submits instead of piling waiting jobs up in memory — a
	// 20,000-row run at --concurrency 256 held ~90 MB of them.
	started *semaphore.Weighted

	// probe is closed once the run's first submit has its answer; the
	// other submits wait for it (see submit). probing picks that first one.
	probe     chan struct{}
	probing   atomic.Bool
	probeOnce sync.Once
}

// newRun returns the state of a run of r starting now. Its fsync rounds
// must be closed (r.files.dirSync.Close) once its work has ended.
func newRun(r *Runner) *run {
	start := r.cfg.Now()
	ru := &run{Runner: r, began: start,
		poll:      newPollPolicy(r.cfg.Poll, r.cfg.Now),
		outage:    &outage{limit: r.cfg.OutageLimit},
		answers:   &answerWatch{},
		alone:     make(chan struct{}, 1),
		downloads: semaphore.NewWeighted(int64(r.cfg.DownloadConcurrency)),
		started:   semaphore.NewWeighted(int64(2*r.cfg.Concurrency + r.cfg.DownloadConcurrency)),
		probe:     make(chan struct{}),
	}
	ru.api = gatedAPI{API: r.client, r: ru} // --deadline and --max-submits (operator.go)
	ru.slots = newJobSlots(r.cfg.Concurrency, &ru.stats.accountJobs, r.log)
	// Rows waiting for a slot make a finish noticed sooner worth calls.
	ru.slots.onWait, ru.poll.rowsWait = ru.poll.rowsWaiting, ru.slots.rowsWait
	files := *r.dl
	files.dirSync = newDirSyncer(func() error { return r.cfg.FS.SyncDir(r.cfg.OutDir) })
	ru.files = &files
	return ru
}

// Errors that end a run early. cmd maps them to exit codes.
var (
	// ErrHeld: uncertain submits were held (--hold-uncertain) and remain unsent.
	ErrHeld = errors.New("uncertain submits held")
	// ErrSubmitsStopped: the API refused further submits (the account cannot pay,
	// or the API stayed unavailable); in-flight jobs were collected.
	ErrSubmitsStopped = errors.New("submits stopped")
	// ErrChanged: rows whose parameters changed since they were submitted were skipped.
	ErrChanged = errors.New("rows changed since they were submitted")
	// ErrFailedRows: the run finished and some rows failed.
	ErrFailedRows = errors.New("some rows failed")
	// ErrLeftInFlight: jobs whose own calls kept failing were left in
	// flight for the next run, while the run finished the others.
	ErrLeftInFlight = errors.New("jobs left in flight for the next run")
)

// counters are the run's live figures; read with snapshot.
type counters struct {
	rows, submitted, resent, uncertain, held, completed, downloaded atomic.Int64
	failed, skippedDone, changed, notSubmitted, leftInFlight        atomic.Int64
	polls, downloadRetries, urlRefreshes                            atomic.Int64
	accountJobs, parked, cancelled                                  atomic.Int64
	mu                                                              sync.Mutex
	failReasons                                                     map[string]int
	final                                                           map[store.State]int
	words                                                           map[string]int

	orphans, orphansLive, orphansCollected, orphansFailed atomic.Int64
	orphanKeys                                            []string // the first maxOrphanKeys, guarded by mu

	failedBefore     atomic.Int64
	failedBeforeKeys []string // the first maxOrphanKeys, guarded by mu

	// costMicros sums, in micro-dollars, the costs the API reported for
	// the costJobs jobs that finished this run.
	costMicros, costJobs atomic.Int64
}

// reportedCost counts a finished job's cost as the API reported it.
func (c *counters) reportedCost(usd *float64) {
	if usd == nil {
		return
	}
	c.costMicros.Add(int64(math.Round(*usd * 1e6)))
	c.costJobs.Add(1)
}

// maxStatusWords bounds the distinct unknown status words counted one by
// one; the rest count as otherWords. An API answering a new word on every
// look must not grow the summary without end.
const (
	maxStatusWords = 16
	otherWords     = "(other)"
)

// word counts one look answered with an unknown status word. It returns
// the word as counted when this is its first look, "" otherwise.
func (c *counters) word(w string) string {
	if w == "" {
		w = "(empty)"
	}
	if len(w) > 64 {
		w = w[:64]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.words == nil {
		c.words = make(map[string]int)
	}
	if _, ok := c.words[w]; !ok && len(c.words) >= maxStatusWords {
		w = otherWords
	}
	c.words[w]++
	if c.words[w] == 1 {
		return w
	}
	return ""
}

func (c *counters) fail(reason string) {
	c.failed.Add(1)
	reason = reasons.Normalize(reason)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failReasons == nil {
		c.failReasons = make(map[string]int)
	}
	if _, ok := c.failReasons[reason]; !ok && len(c.failReasons) >= reasons.Counted {
		reason = reasons.Other
	}
	c.failReasons[reason]++
}

// failedEarlier counts a row skipped because it failed in an earlier run.
func (c *counters) failedEarlier(key string) {
	c.failedBefore.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failedBeforeKeys) < maxOrphanKeys {
		c.failedBeforeKeys = append(c.failedBeforeKeys, key)
	}
}

func (c *counters) end(s store.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final == nil {
		c.final = make(map[store.State]int)
	}
	c.final[s]++
}

// Summary is the account of one run (account.Figures): every row of the
// manifest and what this run did. FailReasons counts the run's failures
// by reason (reasons.Normalize): the reasons.Shown most frequent, the
// rest under reasons.Other.
type Summary = account.Figures

func (r *run) snapshot() Summary {
	c := &r.stats
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Summary{
		Rows: int(c.rows.Load()), Submitted: int(c.submitted.Load()), Resent: int(c.resent.Load()),
		Uncertain: int(c.uncertain.Load()), Held: int(c.held.Load()), Completed: int(c.completed.Load()),
		Downloaded: int(c.downloaded.Load()), Failed: int(c.failed.Load()), SkippedDone: int(c.skippedDone.Load()),
		Changed: int(c.changed.Load()), NotSubmitted: int(c.notSubmitted.Load()), LeftInFlight: int(c.leftInFlight.Load()),
		Polls: int(c.polls.Load()), DownloadRetries: int(c.downloadRetries.Load()), URLRefreshes: int(c.urlRefreshes.Load()),
		AccountJobs: int(c.accountJobs.Load()), Parked: int(c.parked.Load()),
		FailReasons: map[string]int{}, Final: map[store.State]int{},
		Wall:    r.cfg.Now().Sub(r.began),
		Orphans: int(c.orphans.Load()), OrphanKeys: slices.Clone(c.orphanKeys),
		OrphansInFlight: int(c.orphansLive.Load()), OrphansCollected: int(c.orphansCollected.Load()),
		OrphansFailed: int(c.orphansFailed.Load()),
		FailedBefore:  int(c.failedBefore.Load()), FailedBeforeKeys: slices.Clone(c.failedBeforeKeys),
		ReportedCostUSD: account.USD(c.costMicros.Load()), ReportedCostJobs: int(c.costJobs.Load()),
		Cancelled: int(c.cancelled.Load()),
	}
	if top := reasons.Top(c.failReasons, reasons.Shown); top != nil {
		s.FailReasons = top
	}
	for k, v := range c.final {
		s.Final[k] = v
	}
	if len(c.words) > 0 {
		s.StatusWords = make(map[string]int, len(c.words))
		for k, v := range c.words {
			s.StatusWords[k] = v
		}
	}
	s.WholeManifest(r.cfg.ExpectRows)
	return s
}

// Run takes every row of src to done (or as far as it can go) and returns
// the run's summary. Cancelling ctx is a graceful stop: no new submits,
// in-flight submits are recorded, polls and downloads are abandoned (the
// jobs stay on the API and resume next time), and Run returns ctx's error.
//
// The error is nil only when every row is done; otherwise it says why not
// (ErrFailedRows, ErrHeld, ErrSubmitsStopped, ErrChanged, an API error
// such as api.ErrUnauthorized, a file-system error, or ctx's error).
func (r *Runner) Run(ctx context.Context, src RowSource) (Summary, error) {
	ru := newRun(r)
	r.current.Store(ru)
	return ru.run(ctx, src)
}

// run is Run's body.
func (r *run) run(ctx context.Context, src RowSource) (Summary, error) {
	lctx, stopLimits := r.startLimits(ctx)
	defer stopLimits()
	g, gctx := errgroup.WithContext(lctx)

	produceErr := r.produce(gctx, src, g)
	waitErr := g.Wait()
	// Every download has ended: the run's fsync rounds may end too.
	r.files.dirSync.Close()

	sum := r.snapshot()
	if err := r.writeIndex(context.WithoutCancel(ctx)); err != nil {
		r.log.Warn("results index not written", "err", err)
	}

	unread := errors.Is(produceErr, errRowsUnread)
	switch {
	case waitErr != nil:
		return sum, waitErr
	case produceErr != nil && !unread:
		return sum, produceErr
	case ctx.Err() != nil:
		return sum, ctx.Err()
	}
	if v, ok := r.stopErr.Load().(error); ok && v != nil {
		return sum, v
	}
	if err := r.limitErr(sum, unread); err != nil {
		return sum, err
	}
	if unread {
		return sum, fmt.Errorf("manifest not read to the end: %w", ErrSubmitsStopped)
	}
	switch {
	case sum.Held > 0:
		return sum, fmt.Errorf("%d rows: %w", sum.Held, ErrHeld)
	case sum.Failed > 0 || countFailedFinal(sum.Final) > 0:
		return sum, fmt.Errorf("%d rows: %w", countFailedFinal(sum.Final), ErrFailedRows)
	case sum.Changed > 0:
		return sum, fmt.Errorf("%d rows: %w", sum.Changed, ErrChanged)
	case sum.Parked > 0:
		return sum, fmt.Errorf("%d jobs: %w", sum.Parked, ErrLeftInFlight)
	}
	return sum, nil
}

// errRowsUnread: produce stopped before the end of the manifest.
var errRowsUnread = errors.New("rows left unread")

// countFailedFinal counts the rows a finished run leaves short of done:
// given up on the API, or rendered and not downloaded.
func countFailedFinal(final map[store.State]int) int {
	return final[store.StateFailed] + final[store.StateTimedOut] + final[store.StateExpired] + final[store.StateCancelled] +
		final[store.StateRendered]
}

// produce streams the rows, plans each against the store and starts the work
// each needs. It returns when every row has been handed out or ctx ends.
func (r *run) produce(ctx context.Context, src RowSource, g *errgroup.Group) error {
	seen := newSeenKeys(r.cfg.ExpectRows)
	for {
		if ctx.Err() != nil {
			// Stopping: the rows not read yet stay as they are. Summary.Rows
			// counts the rows read; the caller knows the manifest's size.
			return errRowsUnread
		}
		row, err := src.Next()
		if errors.Is(err, io.EOF) {
			if ctx.Err() != nil {
				return nil // stopping: the next run finds the orphans
			}
			return r.orphans(ctx, seen, g)
		}
		if err != nil {
			return fmt.Errorf("read manifest: %w", err)
		}
		r.stats.rows.Add(1)
		seen.add(row.Key)
		job, action, err := r.plan(ctx, row)
		if err != nil {
			if ctx.Err() != nil {
				r.stats.rows.Add(-1) // not looked at: as if not read
				return errRowsUnread
			}
			return err
		}
		if job, err = r.claim(ctx, job); err != nil {
			return err
		}
		if action == actSkip {
			r.stats.end(job.State)
			continue
		}
		if ctx.Err() != nil {
			// Stopping: what is left is counted, not worked on.
			r.countUnstarted(job)
			continue
		}
		r.checkLimits(action)
		if err := r.start(ctx, g, job, action); err != nil {
			r.countUnstarted(job)
			if ctx.Err() != nil {
				continue
			}
			return err
		}
	}
}

func (r *run) countUnstarted(job store.Job) {
	switch {
	case job.RequestID != "" && !job.State.IsTerminal():
		r.stats.leftInFlight.Add(1)
	case job.State == store.StateUncertain || job.State == store.StateSubmitting:
		r.stats.held.Add(1)
	default:
		r.stats.notSubmitted.Add(1)
	}
	r.stats.end(job.State)
}

// plan decides what a row needs (plan.go) and counts and logs what a
// run says of it before any work.
func (r *run) plan(ctx context.Context, row manifest.Row) (store.Job, action, error) {
	job, d, err := planRow(ctx, r.store, row, r.planOptions(), r.dl.present, r.cfg.Now)
	if err != nil {
		return job, actSkip, err
	}
	switch {
	case d.changed:
		r.stats.changed.Add(1)
	case d.act == actSkip && job.State == store.StateDone:
		r.stats.skippedDone.Add(1)
	case d.act == actSkip:
		r.stats.failedEarlier(job.Key)
	}
	logDecision(r.log, row, job, d)
	return job, d.act, nil
}
