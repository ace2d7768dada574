package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/reasons"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// Store is the part of the checkpoint store a Batch reads and, for Cancel,
// writes. *store.Store implements it.
type Store interface {
	// Get returns the job stored under key, or an error matching store.ErrNotFound.
	Get(ctx context.Context, key string) (store.Job, error)
	// Update applies fn to the stored job in one transaction; fn may run more than once.
	Update(ctx context.Context, key string, fn func(*store.Job) error) (store.Job, error)
	// ForEach calls fn for every job in key order inside one read transaction;
	// fn must not call back into the store.
	ForEach(ctx context.Context, fn func(store.Job) error) error
	// ForEachBrief calls brief with every job's key and Brief, read without
	// decoding the record, and fn with the whole job when brief returns
	// true; fn must not call back into the store.
	ForEachBrief(ctx context.Context, brief func(key []byte, b store.Brief) bool, fn func(store.Job) error) error
}

var _ Store = (*store.Store)(nil)

// Canceller cancels a queued job on the API. *api.Client implements it.
type Canceller interface {
	// Cancel succeeds only while the job is queued; api.ErrNotCancellable
	// means it is running or finished, api.ErrNotFound that the API no
	// longer knows the ID. Repeating it is harmless.
	Cancel(ctx context.Context, requestID string) error
}

var _ Canceller = (*api.Client)(nil)

// Errors of a Batch and of Open.
var (
	// ErrNoAPI: Cancel was asked of a Batch that has no API client.
	ErrNoAPI = errors.New("no API client to cancel with")
	// ErrNoState: no state file at the path, so no run has started there.
	ErrNoState = errors.New("no state file")
	// ErrNotAnswering: a run holds the state file and its control socket
	// takes the connection, but the run does not answer (stopped with
	// SIGSTOP or a debugger, or stuck). Try again once it runs.
	ErrNotAnswering = errors.New("the run holding the state file is not answering")
)

// cancelConcurrency bounds simultaneous cancel calls; the client's rate
// limiter still paces them.
const cancelConcurrency = 4

// maxListed caps the keys a Status lists per group; counts stay exact.
const maxListed = 5

// Batch answers for one state file: from the store a live run holds (served
// on its socket), or from a state file opened by the asking process.
type Batch struct {
	// Path is the state file, as reported.
	Path  string
	Store Store
	// API cancels jobs; nil makes Cancel fail with ErrNoAPI. It is called
	// lazily, only when there is something to cancel, so that status and
	// export never need a token.
	API func() (Canceller, error)
	// Run describes the run going on in this process; nil when none is.
	Run *Run
	// Now is the clock for ages and cancel times; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Pricer estimates the jobs sent without a reported cost (status and
	// export mark them as estimated); nil estimates none. Open sets it from
	// the price the state file recorded (money.PriceMetaKey).
	Pricer *money.Pricer
	// Rows is the manifest's rows (the shard's) as the last run counted
	// them (account.RowsMetaKey), and BudgetUSD its budget (0: none): the
	// account places the rows the state file does not know yet as not
	// submitted. Open sets them from the state file; 0 rows takes Run's.
	Rows      int
	BudgetUSD account.USD

	apiOnce sync.Once
	api     Canceller
	apiErr  error
}

func (b *Batch) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Batch) log() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Status is where a batch stands.
type Status struct {
	StateFile string `json:"state_file"`
	// Live is set while a run holds the state file and answered.
	Live *RunInfo `json:"live,omitempty"`
	// Jobs counts the rows the state file knows (rows never planned are
	// not in it).
	Jobs    int                 `json:"jobs"`
	ByState map[store.State]int `json:"by_state"`
	// Failures groups failed, timed-out, expired and cancelled jobs by
	// their error message (reasons.Normalize), most frequent first:
	// the reasons.Shown most frequent, then the rest as
	// reasons.Other.
	Failures []FailureGroup `json:"failures,omitempty"`
	// Uncertain counts submits whose outcome was lost (uncertain, or
	// submitting when a run died): each may have been charged.
	Uncertain     int      `json:"uncertain"`
	UncertainKeys []string `json:"uncertain_keys,omitempty"`
	// OldestActive is the job submitted longest ago that is still queued
	// or running on the API.
	OldestActive *ActiveJob `json:"oldest_active,omitempty"`
	// Orphans are jobs no row of the last manifest a run read whole
	// claims (a live run counts them in Figures.Orphans): kept, never
	// submitted again.
	// OrphansInFlight of them have a render in flight or not downloaded,
	// which a run collects.
	Orphans         int      `json:"orphans"`
	OrphanKeys      []string `json:"orphan_keys,omitempty"`
	OrphansInFlight int      `json:"orphans_in_flight,omitempty"`
	// CostUSD is the sum of the costs the API reported (results asked
	// with include_cost), over CostJobs jobs. NoCostJobs were sent (their
	// submits may be charged) and have no reported cost: unknown.
	CostUSD    account.USD `json:"cost_usd,omitempty"`
	CostJobs   int         `json:"cost_jobs,omitempty"`
	NoCostJobs int         `json:"no_cost_jobs,omitempty"`
	// EstimatedCostUSD is the estimate of EstimatedCostJobs of the
	// NoCostJobs, at the price the state file recorded (EstimateBasis,
	// e.g. "base $0.044/output"); the rest have no estimate either.
	EstimatedCostUSD  account.USD `json:"estimated_cost_usd,omitempty"`
	EstimatedCostJobs int         `json:"estimated_cost_jobs,omitempty"`
	EstimateBasis     string      `json:"estimate_basis,omitempty"`
	// Account places every row of the manifest (orphans are not rows) and
	// says what the batch spent: the one answer to how far along it is.
	Account account.Ledger `json:"account"`
}

// FailureGroup is the jobs that ended with one error message.
type FailureGroup struct {
	Message string   `json:"message"`
	Count   int      `json:"count"`
	Keys    []string `json:"keys"` // the first few, in key order
}

// topFailures lists groups as a summary counts failure reasons
// (reasons.Top): the reasons.Shown most frequent, then
// the rest in one reasons.Other group listing their first keys.
func topFailures(groups map[string]*FailureGroup) []FailureGroup {
	counts := make(map[string]int, len(groups))
	for m, g := range groups {
		counts[m] = g.Count
	}
	var out []FailureGroup
	var other *FailureGroup
	for i, m := range reasons.Rank(counts) {
		g := groups[m]
		if i < reasons.Shown && m != reasons.Other {
			out = append(out, *g)
			continue
		}
		if other == nil {
			other = &FailureGroup{Message: reasons.Other}
		}
		other.Count += g.Count
		other.Keys = append(other.Keys, g.Keys...)
	}
	if other != nil {
		// Keys come in key order from the store: the first few of the rest.
		sort.Strings(other.Keys)
		other.Keys = other.Keys[:min(len(other.Keys), maxListed)]
		out = append(out, *other)
	}
	return out
}

// ActiveJob is a job still on the API.
type ActiveJob struct {
	Key         string        `json:"key"`
	RequestID   string        `json:"request_id"`
	State       store.State   `json:"state"`
	SubmittedAt time.Time     `json:"submitted_at"`
	Age         time.Duration `json:"age_ns"`
}

// Status reads the whole state file once and reports on it.
func (b *Batch) Status(ctx context.Context) (Status, error) {
	sc := &statusScan{s: Status{StateFile: b.Path, ByState: map[store.State]int{}},
		groups: map[string]*FailureGroup{}, rowStates: map[store.State]int{}}
	s := &sc.s
	for _, st := range store.AllStates() {
		s.ByState[st] = 0
	}
	sc.est = newStatusEstimate(b.Pricer, s)
	// Only the jobs that are listed or grouped are decoded: a batch of a
	// million done jobs is counted off the front of its records.
	if err := b.Store.ForEachBrief(ctx, sc.brief, sc.job); err != nil {
		return *s, fmt.Errorf("status of %s: %w", b.Path, err)
	}
	s.Failures = topFailures(sc.groups)
	s.EstimatedCostUSD = account.Dollars(math.Round(sc.est.usd*1e6) / 1e6) // sums of floats carry binary noise
	s.CostUSD = sc.reported
	s.Account = b.ledger(sc.rowStates, sc.reported, s)
	now := b.now()
	if o := sc.oldest; o != nil {
		s.OldestActive = &ActiveJob{Key: o.Key, RequestID: o.RequestID, State: o.State,
			SubmittedAt: o.SubmittedAt, Age: now.Sub(o.SubmittedAt)}
	}
	if b.Run != nil {
		info := b.Run.Info(now)
		info.agree(s.Account)
		s.Live = &info
	}
	return *s, nil
}

// statusScan is one pass of Status over the state file.
type statusScan struct {
	s         Status
	groups    map[string]*FailureGroup
	rowStates map[store.State]int // the jobs of manifest rows (not orphans), by state
	reported  account.USD
	est       *statusEstimate
	oldest    *store.Job
}

// brief counts a job off its record's front, and says whether the job
// must be decoded (to be listed, grouped or priced by its input).
func (sc *statusScan) brief(key []byte, br store.Brief) bool {
	s := &sc.s
	needJob := false
	s.Jobs++
	s.ByState[br.State]++
	usd, reported := money.Reported(br.CostUSD)
	switch {
	case reported:
		sc.reported += account.Dollars(usd)
		s.CostJobs++
	case br.Attempts > 0:
		s.NoCostJobs++
		needJob = sc.est.byBrief(br) // priced by its input: decode it
	}
	if br.Orphan {
		s.Orphans++
		if len(s.OrphanKeys) < maxListed {
			s.OrphanKeys = append(s.OrphanKeys, string(key))
		}
		if br.State.HasRequestID() && !br.State.IsTerminal() {
			s.OrphansInFlight++
		}
	} else {
		sc.rowStates[br.State]++
	}
	return needJob || (br.State != store.StateDone && br.State != store.StatePending)
}

// job lists and groups a decoded job.
func (sc *statusScan) job(j store.Job) error {
	s := &sc.s
	sc.est.byJob(j)
	switch j.State {
	case store.StateFailed, store.StateTimedOut, store.StateExpired, store.StateCancelled:
		sc.failed(j)
	case store.StateUncertain, store.StateSubmitting:
		s.Uncertain++
		if len(s.UncertainKeys) < maxListed {
			s.UncertainKeys = append(s.UncertainKeys, j.Key)
		}
	case store.StateSubmitted, store.StateQueued, store.StateRunning:
		if sc.oldest == nil || j.SubmittedAt.Before(sc.oldest.SubmittedAt) {
			sc.oldest = &j
		}
	}
	return nil
}

// failed counts a job that ended short of done in its message's group.
func (sc *statusScan) failed(j store.Job) {
	msg := j.LastError
	if msg == "" {
		msg = string(j.State)
	}
	msg = reasons.Normalize(msg)
	g := sc.groups[msg]
	if g == nil && len(sc.groups) >= reasons.Counted {
		msg = reasons.Other
		g = sc.groups[msg]
	}
	if g == nil {
		g = &FailureGroup{Message: msg}
		sc.groups[msg] = g
	}
	g.Count++
	if len(g.Keys) < maxListed {
		g.Keys = append(g.Keys, j.Key)
	}
}

// ledger is the account of the batch's rows, in rowStates, and its spend.
func (b *Batch) ledger(rowStates map[store.State]int, reported account.USD, s *Status) account.Ledger {
	rows := b.Rows
	if rows == 0 && b.Run != nil {
		rows = b.Run.Rows
	}
	l := account.Of(rows, rowStates)
	l.Spend = account.Spend{ReportedUSD: reported, ReportedJobs: s.CostJobs,
		EstimatedUSD: s.EstimatedCostUSD, EstimatedJobs: s.EstimatedCostJobs,
		UnknownJobs: s.NoCostJobs - s.EstimatedCostJobs}
	l.Spend.SetBudget(b.BudgetUSD)
	return l
}

// Export calls fn with the index entry of every job, in key order.
func (b *Batch) Export(ctx context.Context, fn func(results.Entry) error) error {
	return results.StoreEntries{Jobs: b.Store, Est: b.Estimator()}.Export(ctx, fn)
}

// Estimator estimates a job's cost with b.Pricer; nil when b has none.
func (b *Batch) Estimator() results.Estimator {
	if b.Pricer == nil {
		return nil
	}
	return Estimator(*b.Pricer)
}

// Estimator estimates a sent job's cost with p: its price times its
// charged submits.
func Estimator(p money.Pricer) results.Estimator {
	return func(j store.Job) (float64, bool) {
		usd, err := p.Charged(j.Input, j.Attempts)
		return usd, err == nil
	}
}

// statusEstimate adds the estimates of jobs without a reported cost to a
// Status. Prices per output or per job need no input, so those jobs are
// priced off their Brief; per-second prices read the job's duration.
type statusEstimate struct {
	p       *money.Pricer
	s       *Status
	flat    float64 // the price of a submit, when it needs no input
	isFlat  bool
	usd     float64 // the sum of the estimates
	pending bool    // the last brief asked for its job to be priced
}

func newStatusEstimate(p *money.Pricer, s *Status) *statusEstimate {
	e := &statusEstimate{p: p, s: s}
	if p != nil {
		s.EstimateBasis = p.Describe()
		if k := p.Kind(); k == money.PerOutput || k == money.PerJob {
			usd, err := p.Job(nil)
			e.flat, e.isFlat = usd, err == nil
		}
	}
	return e
}

// byBrief prices a job without a reported cost off its Brief, or reports
// that its input is needed (byJob then prices it).
func (e *statusEstimate) byBrief(br store.Brief) (needJob bool) {
	switch {
	case e.p == nil:
		return false
	case e.isFlat:
		e.add(e.flat * float64(br.Attempts))
		return false
	}
	e.pending = true
	return true
}

func (e *statusEstimate) byJob(j store.Job) {
	if !e.pending {
		return
	}
	e.pending = false
	if usd, err := e.p.Charged(j.Input, j.Attempts); err == nil {
		e.add(usd)
	}
}

func (e *statusEstimate) add(usd float64) {
	e.usd += usd
	e.s.EstimatedCostJobs++
}

// Outcomes of a cancel, per job.
const (
	Cancelled      = "cancelled"       // the API cancelled it; recorded as cancelled
	AlreadyRunning = "already_running" // in progress: it cannot be cancelled
	Finished       = "finished"        // already in a final state
	NotSubmitted   = "not_submitted"   // no request ID: nothing on the API to cancel
	NotFound       = "not_found"       // no such key in the state file
	CancelFailed   = "error"           // the cancel call failed; see Error
)

// CancelResult is what happened to one job.
type CancelResult struct {
	Key       string      `json:"key"`
	RequestID string      `json:"request_id,omitempty"`
	State     store.State `json:"state,omitempty"` // as recorded after the cancel
	Outcome   string      `json:"outcome"`
	Error     string      `json:"error,omitempty"`
}

// CancelReport is the account of one cancel request.
type CancelReport struct {
	Results []CancelResult `json:"results"`
	// Counts by outcome.
	Counts map[string]int `json:"counts"`
}

// Unfinished reports whether the cancel left something undone: a cancel
// the API failed, a key the batch does not know, or a row not yet
// submitted (the next run would still send it). It depends on the outcomes
// alone, never on whether keys were named, so that one outcome gets one
// exit code. A job already running is not among them: it is paid for, and
// the run collects its video.
func (r CancelReport) Unfinished() bool {
	return r.Counts[CancelFailed]+r.Counts[NotFound]+r.Counts[NotSubmitted] > 0
}

// Cancel asks the API to cancel the named jobs, or, when keys is empty,
// every job of the batch that is queued (or submitted and not yet seen
// queued). Jobs seen running are reported as already running: the API
// cannot cancel them. A cancelled job is recorded as cancelled, so that a
// later run skips it (until --retry-failed).
//
// Cancel stops at the first error that would make every other call fail
// (the token was rejected, the API stayed unavailable) and returns it with
// the results so far.
func (b *Batch) Cancel(ctx context.Context, keys []string) (CancelReport, error) {
	rep := CancelReport{Counts: map[string]int{}}
	var targets []store.Job
	add := func(res CancelResult) {
		rep.Results = append(rep.Results, res)
		rep.Counts[res.Outcome]++
	}
	if len(keys) == 0 {
		err := b.Store.ForEach(ctx, func(j store.Job) error {
			switch j.State {
			case store.StateSubmitted, store.StateQueued:
				targets = append(targets, j)
			case store.StateRunning:
				add(CancelResult{Key: j.Key, RequestID: j.RequestID, State: j.State, Outcome: AlreadyRunning})
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("cancel in %s: %w", b.Path, err)
		}
	} else {
		for _, k := range slices.Compact(slices.Sorted(slices.Values(keys))) {
			j, err := b.Store.Get(ctx, k)
			switch {
			case errors.Is(err, store.ErrNotFound):
				add(CancelResult{Key: k, Outcome: NotFound})
				continue
			case err != nil:
				return rep, fmt.Errorf("cancel in %s: %w", b.Path, err)
			}
			switch {
			case j.State.IsTerminal():
				add(CancelResult{Key: k, RequestID: j.RequestID, State: j.State, Outcome: Finished})
			case j.RequestID == "" || !j.State.HasRequestID():
				add(CancelResult{Key: k, State: j.State, Outcome: NotSubmitted})
			default:
				targets = append(targets, j)
			}
		}
	}
	if len(targets) == 0 {
		return rep, nil
	}
	client, err := b.canceller()
	if err != nil {
		return rep, err
	}

	results := make([]CancelResult, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cancelConcurrency)
	for i, j := range targets {
		g.Go(func() error {
			res, err := b.cancelOne(gctx, client, j)
			results[i] = res
			return err
		})
	}
	err = g.Wait()
	for _, res := range results {
		if res.Key != "" {
			add(res)
		}
	}
	sort.Slice(rep.Results, func(i, k int) bool { return rep.Results[i].Key < rep.Results[k].Key })
	return rep, err
}

func (b *Batch) canceller() (Canceller, error) {
	if b.API == nil {
		return nil, ErrNoAPI
	}
	b.apiOnce.Do(func() { b.api, b.apiErr = b.API() })
	return b.api, b.apiErr
}

// cancelOne cancels one job and records the outcome. It returns an error
// only when the whole cancel should stop.
func (b *Batch) cancelOne(ctx context.Context, client Canceller, j store.Job) (CancelResult, error) {
	res := CancelResult{Key: j.Key, RequestID: j.RequestID, State: j.State}
	err := client.Cancel(ctx, j.RequestID)
	switch {
	case err == nil:
		now := b.now()
		rec, uerr := b.Store.Update(context.WithoutCancel(ctx), j.Key, func(s *store.Job) error {
			// A run may have moved the job on meanwhile; only a job still
			// waiting for the same request is marked.
			if s.RequestID != j.RequestID || s.State.IsTerminal() {
				return nil
			}
			s.State = store.StateCancelled
			s.LastError = "cancelled by pikabatch cancel"
			s.FinishedAt = now
			return nil
		})
		if uerr != nil {
			res.Outcome, res.Error = CancelFailed, "cancelled on the API, but not recorded: "+uerr.Error()
			return res, fmt.Errorf("record cancel of %q: %w", j.Key, uerr)
		}
		res.State, res.Outcome = rec.State, Cancelled
		b.log().Info("cancelled", "key", j.Key, "request_id", j.RequestID)
		return res, nil
	case errors.Is(err, api.ErrNotCancellable):
		res.Outcome = AlreadyRunning
		return res, nil
	case ctx.Err() != nil:
		res.Outcome, res.Error = CancelFailed, ctx.Err().Error()
		return res, ctx.Err()
	}
	res.Outcome, res.Error = CancelFailed, err.Error()
	b.log().Warn("cancel failed", "key", j.Key, "request_id", j.RequestID, "err", err)
	if errors.Is(err, api.ErrUnauthorized) || errors.Is(err, api.ErrUnavailable) || errors.Is(err, api.ErrPaymentRequired) {
		return res, fmt.Errorf("cancel %q: %w", j.Key, err)
	}
	return res, nil
}
