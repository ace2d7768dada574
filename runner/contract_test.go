package runner_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/internal/clocktest"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// The runner's side of the API's documented error_codes, each
// with a fake API that answers the sentinel the client maps the code to.

func TestUnknownModelStopsBeforeASecondSubmit(t *testing.T) {
	t.Parallel()
	e := setupFake(t, 20)
	f := newFakeAPI(t)
	f.submitErr = func(int) error {
		return fmt.Errorf("submit: HTTP 400: error_code 400001: no such model: %w", api.ErrUnknownModel)
	}
	sum, err := e.runFake(t.Context(), f, func(c *runner.Config) { c.Concurrency = 8 })
	require.ErrorIs(t, err, api.ErrUnknownModel)
	assert.Contains(t, err.Error(), "pika/pika-2-2/image-to-video", "the error names the model")
	assert.Equal(t, 1, f.submitCount(), "one refused submit, not one per slot")
	assert.Zero(t, sum.Submitted)
	assert.Zero(t, sum.Failed)
	for key, j := range e.jobs() {
		assert.Equal(t, store.StatePending, j.State, "row %s: nothing was created", key)
	}
}

func TestRevokedTokenStopsAtOnce(t *testing.T) {
	t.Parallel()
	e := setupFake(t, 20)
	f := newFakeAPI(t)
	f.submitErr = func(int) error {
		// error_code 400004 on an HTTP 400: the account, not the row.
		return fmt.Errorf("submit: HTTP 400: error_code 400004: token revoked: %w", api.ErrUnauthorized)
	}
	sum, err := e.runFake(t.Context(), f, func(c *runner.Config) { c.Concurrency = 8 })
	require.ErrorIs(t, err, api.ErrUnauthorized)
	assert.Equal(t, 1, f.submitCount())
	assert.Zero(t, sum.Failed, "no row is failed for the account's trouble")
}

func TestEmptyAccountCollectsJobsInFlightAndResumesAfterTopUp(t *testing.T) {
	t.Parallel()
	const rows = 12
	e := setupFake(t, rows)
	f := newFakeAPI(t)
	f.balance = 3
	f.running = 3
	sum, err := e.runFake(t.Context(), f, nil)
	require.ErrorIs(t, err, api.ErrPaymentRequired)
	require.ErrorIs(t, err, runner.ErrSubmitsStopped)
	assert.Equal(t, 3, sum.Submitted)
	assert.Equal(t, 3, sum.Downloaded, "the jobs in flight finish and download")
	assert.Equal(t, rows-3, sum.NotSubmitted)
	assert.Zero(t, sum.Failed)
	refused := f.submitCount() - 3
	assert.LessOrEqual(t, refused, 4, "at most the submits already on their way are refused")
	for key, j := range e.jobs() {
		assert.Contains(t, []store.State{store.StateDone, store.StatePending}, j.State, "row %s", key)
	}

	// Topped up, the same command finishes what is left, paying once per row.
	f.mu.Lock()
	f.balance = -1
	f.mu.Unlock()
	sum, err = e.runFake(t.Context(), f, nil)
	require.NoError(t, err)
	assert.Equal(t, rows-3, sum.Submitted)
	ids := map[string]bool{}
	for key, j := range e.jobs() {
		require.Equal(t, store.StateDone, j.State, "row %s", key)
		assert.False(t, ids[j.RequestID], "request ID %s used twice", j.RequestID)
		ids[j.RequestID] = true
	}
	assert.Equal(t, rows, f.next, "zero duplicate submits")
}

func TestPermissionDeniedFailsThatJobOnly(t *testing.T) {
	t.Parallel()
	e := setupFake(t, 8)
	f := newFakeAPI(t)
	f.lookErr = func(id string, _ int) error {
		if id == "req-2" {
			return fmt.Errorf("status: HTTP 403: error_code 403001: request belongs to another account: %w", api.ErrPermissionDenied)
		}
		return nil
	}
	sum, err := e.runFake(t.Context(), f, nil)
	require.ErrorIs(t, err, runner.ErrFailedRows)
	assert.Equal(t, 7, sum.Downloaded)
	assert.Equal(t, 1, sum.Failed)
	var failed []store.Job
	for _, j := range e.jobs() {
		if j.State == store.StateFailed {
			failed = append(failed, j)
		}
	}
	require.Len(t, failed, 1)
	assert.Equal(t, "req-2", failed[0].RequestID)
	assert.Contains(t, failed[0].LastError, "another account", "the API's message is kept")
}

// One bad job fails alone: it does not stop the batch.

func TestARedirectedResultFailsThatJobOnly(t *testing.T) {
	t.Parallel()
	const rows = 20
	e := setupFake(t, rows)
	f := newFakeAPI(t)
	f.lookErr = func(id string, _ int) error {
		if id == "req-3" {
			return fmt.Errorf("result: redirect to https://elsewhere.example.com/r not followed: %w", api.ErrRedirect)
		}
		return nil
	}
	sum, err := e.runFake(t.Context(), f, nil)
	require.ErrorIs(t, err, runner.ErrFailedRows, "the run finishes; only that row failed")
	assert.Equal(t, rows, f.next, "every row was submitted")
	assert.Equal(t, rows-1, sum.Downloaded)
	for _, j := range e.jobs() {
		if j.RequestID == "req-3" {
			assert.Equal(t, store.StateFailed, j.State)
			assert.Contains(t, j.LastError, "redirect")
		} else {
			assert.Equal(t, store.StateDone, j.State, j.Key)
		}
	}
}

func TestAJobWhoseStatusKeepsFailingIsLeftInFlight(t *testing.T) {
	t.Parallel()
	const rows = 20
	e := setupFake(t, rows)
	f := newFakeAPI(t)
	const bad = "req-2"
	f.lookErr = func(id string, _ int) error {
		if id == bad {
			return &api.UnavailableError{Attempts: 4, Err: &api.StatusError{Code: 500, Op: "status"}}
		}
		return nil
	}
	// The other jobs finish only after the bad one has failed once: their
	// calls go through while its own keep failing.
	f.completed = func(id string) bool { return f.looks[bad] > 0 && f.looks[id] > 1 }
	// The run's clock moves 5 ms per look of the bad job, and each of its
	// looks waits for another job's call to go through since its last:
	// on the wall clock a loaded machine could run no other call for
	// the 20 ms limit, which the run rightly took for an outage (2/300).
	clock := clocktest.New(time.Now())
	stepped := newInStep(f, bad, rows-1, clock, 5*time.Millisecond)
	sum, err := e.runFake(t.Context(), stepped, func(c *runner.Config) {
		c.OutageLimit = 20 * time.Millisecond
		c.Now = clock.Now
	})
	require.ErrorIs(t, err, runner.ErrLeftInFlight, "exit 75, not 69: the API is up")
	require.NotErrorIs(t, err, api.ErrUnavailable)
	assert.Equal(t, rows, f.next, "every row was submitted")
	assert.Equal(t, rows-1, sum.Downloaded)
	assert.Equal(t, 1, sum.Parked)
	assert.Equal(t, 1, sum.LeftInFlight)
	for _, j := range e.jobs() {
		if j.RequestID == bad {
			assert.Contains(t, []store.State{store.StateSubmitted, store.StateQueued, store.StateRunning}, j.State)
			assert.Contains(t, j.LastError, "next run")
		} else {
			assert.Equal(t, store.StateDone, j.State, j.Key)
		}
	}

	// Next run, the API answers for it again: it is collected, not re-sent.
	f.mu.Lock()
	f.lookErr = nil
	f.mu.Unlock()
	sum, err = e.runFake(t.Context(), f, nil)
	require.NoError(t, err)
	assert.Zero(t, sum.Submitted)
	assert.Equal(t, 1, sum.Downloaded)
}

// Status words the docs do not list mean "still running": the job is
// still there and may still finish.

func TestUnknownStatusWordsKeepTheJobRunning(t *testing.T) {
	t.Parallel()
	const rows = 6
	e := setupFake(t, rows)
	f := newFakeAPI(t)
	f.words = []string{"pending", "starting", "processing", "pending"}
	sum, err := e.runFake(t.Context(), f, nil)
	require.NoError(t, err)
	assert.Equal(t, rows, sum.Downloaded, "every row still renders")
	assert.Equal(t, map[string]int{"pending": 2 * rows, "starting": rows, "processing": rows}, sum.StatusWords)
	e.assertFakeDone(rows)
}

func TestUnknownStatusWordsAreCountedBounded(t *testing.T) {
	t.Parallel()
	e := setupFake(t, 2)
	f := newFakeAPI(t)
	for i := range 40 {
		f.words = append(f.words, fmt.Sprintf("word%d", i))
	}
	sum, err := e.runFake(t.Context(), f, nil)
	require.NoError(t, err)
	assert.Len(t, sum.StatusWords, 17, "16 words and (other)")
	total := 0
	for _, n := range sum.StatusWords {
		total += n
	}
	assert.Equal(t, 80, total, "every look counted")
}

func (e *env) assertFakeDone(n int) {
	e.t.Helper()
	jobs := e.jobs()
	require.Len(e.t, jobs, n)
	for key, j := range jobs {
		require.Equal(e.t, store.StateDone, j.State, "job %s: %s", key, j.LastError)
	}
}

// The summary agrees with the store.

func TestSummaryCountsTheJobThatStoppedTheRunAsInFlight(t *testing.T) {
	t.Parallel()
	e := setupFake(t, 10)
	f := newFakeAPI(t)
	f.running = 1000 // nothing finishes
	f.lookErr = func(id string, look int) error {
		if id == "req-3" && look >= 2 {
			return fmt.Errorf("status: HTTP 401: token revoked: %w", api.ErrUnauthorized)
		}
		return nil
	}
	sum, err := e.runFake(t.Context(), f, nil)
	require.ErrorIs(t, err, api.ErrUnauthorized)
	inFlight := 0
	for _, j := range e.jobs() {
		if j.RequestID != "" && !j.State.IsTerminal() && j.State != store.StateRendered {
			inFlight++
		}
	}
	require.Positive(t, inFlight)
	assert.Equal(t, inFlight, sum.LeftInFlight, "every job with a request ID and no result is left in flight")
}

// gateCheck is an API that looks at the store when the runner hands it a
// submit, before any rate-limiter wait: the row must not be "submitting"
// yet, or a run killed while the submit waits for a token leaves a
// possible duplicate charge that never was.
type gateCheck struct {
	runner.API
	st      *store.Store
	t       *testing.T
	entered int
}

func (g *gateCheck) Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error) {
	g.entered++
	require.NoError(g.t, g.st.ForEach(ctx, func(j store.Job) error {
		assert.NotEqual(g.t, store.StateSubmitting, j.State, "%s is recorded submitting before its send", j.Key)
		return nil
	}))
	return g.API.Submit(ctx, model, input, opts)
}

func TestSubmittingIsRecordedAtTheSendGate(t *testing.T) {
	t.Parallel()
	e := setup(t, 4, sim.Config{})
	// At the simulator, each submit's row is recorded "submitting".
	var st *store.Store
	seen := 0
	apiTS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if endpoint(r) == "submit" {
			seen++
			n := 0
			require.NoError(t, st.ForEach(r.Context(), func(j store.Job) error {
				if j.State == store.StateSubmitting {
					n++
				}
				return nil
			}))
			assert.Equal(t, 1, n, "the row on the wire is recorded submitting")
		}
		e.sim.APIHandler().ServeHTTP(w, r)
	}))
	defer apiTS.Close()
	require.NoError(t, os.MkdirAll(e.out, 0o755))
	st, err := store.Open(filepath.Join(e.out, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	defer st.Close()
	client, err := api.New(api.Config{BaseURL: apiTS.URL, Token: api.Token(e.token)})
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	g := &gateCheck{API: client, st: st, t: t}
	r, err := runner.New(runner.Config{Model: "pika/pika-2-2/image-to-video", OutDir: e.out, Concurrency: 1,
		Poll:   runner.PollConfig{Initial: time.Millisecond, Min: time.Millisecond, Max: 5 * time.Millisecond},
		Logger: testLogger(t)}, g, st)
	require.NoError(t, err)
	rows, err := manifest.Open(e.manifest, manifest.FormatAuto)
	require.NoError(t, err)
	defer rows.Close()
	_, err = r.Run(t.Context(), rows)
	require.NoError(t, err)
	assert.Equal(t, 4, g.entered)
	assert.Equal(t, 4, seen)
}

func TestAJobWhoseStatusCannotBeReadIsLeftInFlight(t *testing.T) {
	t.Parallel()
	const rows = 6
	e := setupFake(t, rows)
	f := newFakeAPI(t)
	f.lookErr = func(id string, look int) error {
		switch {
		case id == "req-2":
			return fmt.Errorf("status: %w: body is not JSON", api.ErrBadResponse)
		case look == 1:
			return fmt.Errorf("status: %w: truncated", api.ErrBadResponse) // once: looked at again
		}
		return nil
	}
	sum, err := e.runFake(t.Context(), f, func(c *runner.Config) { c.OutageLimit = 20 * time.Millisecond })
	require.ErrorIs(t, err, runner.ErrLeftInFlight)
	assert.Equal(t, rows-1, sum.Downloaded, "one unreadable answer fails nothing")
	assert.Equal(t, 1, sum.Parked)
	assert.Zero(t, sum.Failed)
}

// inStep is a fake API whose bad job's looks keep in step with the other
// jobs' calls: each look of it after the first waits until another call
// went through since its last (or every other job is done), then moves
// the run's clock on by step.
type inStep struct {
	*fakeAPI
	bad   string
	clock *clocktest.Clock
	step  time.Duration

	ok      chan struct{} // a call of another job went through
	allDone chan struct{} // closed once every other job completed

	mu       sync.Mutex
	looked   bool
	others   int
	finished map[string]bool
}

func newInStep(f *fakeAPI, bad string, others int, clock *clocktest.Clock, step time.Duration) *inStep {
	return &inStep{fakeAPI: f, bad: bad, clock: clock, step: step, others: others,
		ok: make(chan struct{}, 1), allDone: make(chan struct{}), finished: map[string]bool{}}
}

func (s *inStep) Status(ctx context.Context, id string) (api.Status, error) {
	if err := s.before(ctx, id); err != nil {
		return api.Status{}, err
	}
	st, err := s.fakeAPI.Status(ctx, id)
	s.after(id, st.Status, err)
	return st, err
}

func (s *inStep) Result(ctx context.Context, id string) (api.Result, error) {
	if err := s.before(ctx, id); err != nil {
		return api.Result{}, err
	}
	res, err := s.fakeAPI.Result(ctx, id)
	s.after(id, res.Status, err)
	return res, err
}

// before holds a look of the bad job until another call went through.
func (s *inStep) before(ctx context.Context, id string) error {
	if id != s.bad {
		return nil
	}
	s.mu.Lock()
	first := !s.looked
	s.looked = true
	s.mu.Unlock()
	if !first {
		select {
		case <-s.ok:
		case <-s.allDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.clock.Advance(s.step)
	return nil
}

// after notes another job's call that went through.
func (s *inStep) after(id, status string, err error) {
	if id == s.bad || err != nil {
		return
	}
	select {
	case s.ok <- struct{}{}:
	default:
	}
	if status != api.StatusCompleted {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.finished[id] {
		s.finished[id] = true
		if len(s.finished) == s.others {
			close(s.allDone)
		}
	}
}
