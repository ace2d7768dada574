package runner_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/internal/clocktest"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

func TestMaxSubmitsCapsEachRun(t *testing.T) {
	t.Parallel()
	e := setup(t, 10, sim.Config{})
	capped := func(c *runner.Config) { c.MaxSubmits = 4 }

	sum, err := e.runOnce(t.Context(), capped)
	require.ErrorIs(t, err, runner.ErrSubmitCap)
	require.ErrorIs(t, err, runner.ErrSubmitsStopped)
	assert.EqualValues(t, 4, e.sim.Counters().Submits, "never more than the cap")
	assert.Equal(t, 4, sum.Submitted)
	assert.Equal(t, 4, sum.Downloaded, "what was submitted is collected")
	assert.Equal(t, 6, sum.NotSubmitted)

	_, err = e.runOnce(t.Context(), capped)
	require.ErrorIs(t, err, runner.ErrSubmitCap)
	assert.EqualValues(t, 8, e.sim.Counters().Submits)

	sum, err = e.runOnce(t.Context(), capped)
	require.NoError(t, err, "the cap was enough for what was left")
	assert.Equal(t, 2, sum.Submitted)
	e.assertAllDownloaded(10)
}

func TestDeadlineStopsSubmitting(t *testing.T) {
	t.Parallel()
	e := setup(t, 10, sim.Config{})
	clock := clocktest.New(time.Now())
	var n atomic.Int64
	sum, err := e.runOnce(t.Context(), func(c *runner.Config) {
		c.Concurrency = 1
		c.Deadline = time.Hour
		c.Now = clock.Now
		c.Hooks.Submitted = func(string, string) {
			if n.Add(1) == 3 {
				clock.Advance(2 * time.Hour) // the deadline passes after the third submit
			}
		}
	})
	require.ErrorIs(t, err, runner.ErrDeadline)
	require.ErrorIs(t, err, runner.ErrSubmitsStopped)
	assert.EqualValues(t, 3, e.sim.Counters().Submits)
	assert.Equal(t, 3, sum.Downloaded, "jobs in flight are collected within the grace")
	assert.Equal(t, 7, sum.NotSubmitted)
	assert.Equal(t, 3, e.jobsIn(store.StateDone))
}

func TestDeadlineStopsASubmitRetrying(t *testing.T) {
	t.Parallel()
	// Every submit is answered 429 (the API took nothing), and the deadline
	// passes while the first one is on the wire: its retries must not go.
	e := setup(t, 4, sim.Config{})
	clock := clocktest.New(time.Now())
	var submits atomic.Int64
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			submits.Add(1)
			clock.Advance(2 * time.Hour)
		}
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(busy.Close)
	e.apiURL = busy.URL
	sum, err := e.runOnce(t.Context(), func(c *runner.Config) {
		c.Concurrency = 1
		c.Deadline = time.Hour
		c.Now = clock.Now
	})
	require.ErrorIs(t, err, runner.ErrDeadline)
	assert.EqualValues(t, 1, submits.Load(), "no retry after the deadline")
	assert.Equal(t, 4, sum.NotSubmitted)
	for _, j := range e.jobs() {
		assert.Equal(t, store.StatePending, j.State, "%s: a row that was tried is put back: the API took nothing", j.Key)
	}
}

func TestDeadlineGraceAbandonsJobsInFlight(t *testing.T) {
	t.Parallel()
	// Jobs never finish: only the grace period ends the run. The run's
	// clock passes the deadline once the first 4 rows are submitted, as
	// the 5th is read: a wall-clock deadline of a millisecond left a
	// loaded machine reading fewer rows than the test counted on.
	const rows, sent = 5, 4
	clock := clocktest.New(time.Now())
	e := setup(t, rows, sim.Config{Faults: sim.Faults{RateNeverFinish: 1}})
	submitted := make(chan struct{}, sent)
	e.rows = func(src runner.RowSource) runner.RowSource {
		return &actBeforeRow{src: src, row: sent + 1, act: func() {
			for range sent {
				<-submitted
			}
			clock.Advance(2 * time.Hour)
		}}
	}
	sum, err := e.runOnce(t.Context(), func(c *runner.Config) {
		c.Concurrency = sent
		c.Deadline = time.Hour
		c.DeadlineGrace = time.Millisecond
		c.Now = clock.Now
		c.Hooks.Submitted = func(string, string) { submitted <- struct{}{} }
	})
	require.ErrorIs(t, err, runner.ErrDeadline)
	assert.EqualValues(t, sent, e.sim.Counters().Submits)
	assert.Equal(t, sent, sum.LeftInFlight, "left on the API for the next run")
	assert.Equal(t, rows-sent, sum.NotSubmitted)
	assert.Zero(t, sum.Final[store.StateDone])
}

func TestPlanMatchesRun(t *testing.T) {
	t.Parallel()
	e := setup(t, 6, sim.Config{})
	_, err := e.runOnce(t.Context(), func(c *runner.Config) { c.MaxSubmits = 4 })
	require.ErrorIs(t, err, runner.ErrSubmitCap)

	st, err := store.Open(e.out+"/.pikabatch.db", store.Options{ReadOnly: true})
	require.NoError(t, err)
	r, err := runner.New(runner.Config{Model: "m", OutDir: e.out}, mustNotCall{}, st)
	require.NoError(t, err)
	rows, err := manifest.Open(e.manifest, manifest.FormatAuto)
	require.NoError(t, err)
	p, err := r.Plan(context.Background(), rows)
	require.NoError(t, err)
	require.NoError(t, rows.Close())
	require.NoError(t, st.Close())
	assert.Equal(t, runner.Plan{Rows: 6, New: 2, Done: 4, Submits: 2}, p)
}

// jobsIn counts the stored jobs in state s.
func (e *env) jobsIn(s store.State) int {
	n := 0
	for _, j := range e.jobs() {
		if j.State == s {
			n++
		}
	}
	return n
}

// mustNotCall is an API a plan never calls (a call would panic).
type mustNotCall struct{ runner.API }

func TestNoDeadlineGraceAbandonsJobsInFlightAtTheDeadline(t *testing.T) {
	t.Parallel()
	// One clock for the run and the simulator: the deadline passes while
	// the first job still runs (3 h of render time), and the run notices
	// it when it reads the next row, which waits for the first submit.
	clock := clocktest.New(time.Now())
	e := setup(t, 4, sim.Config{Now: clock.Now, RunTime: 3 * time.Hour})
	submitted := make(chan struct{})
	var once sync.Once
	e.rows = func(src runner.RowSource) runner.RowSource {
		return &actBeforeRow{src: src, row: 2, act: func() {
			<-submitted
			clock.Advance(2 * time.Hour)
		}}
	}
	sum, err := e.runOnce(t.Context(), func(c *runner.Config) {
		c.Concurrency = 1
		c.Deadline = time.Hour
		c.DeadlineGrace = -1 // --deadline-grace 0
		c.Now = clock.Now
		c.Hooks.Submitted = func(string, string) { once.Do(func() { close(submitted) }) }
	})
	require.ErrorIs(t, err, runner.ErrDeadline)
	assert.Equal(t, 1, sum.Submitted)
	assert.Equal(t, 1, sum.LeftInFlight, "not collected: no grace")
	assert.Zero(t, sum.Downloaded)
}

// actBeforeRow calls act before it hands out its row-th row (from 1).
type actBeforeRow struct {
	src runner.RowSource
	row int
	n   int
	act func()
}

func (a *actBeforeRow) Next() (manifest.Row, error) {
	a.n++
	if a.n == a.row {
		a.act()
	}
	return a.src.Next()
}

func TestTimedOutJobsThatCompleteAreCollected(t *testing.T) {
	t.Parallel()
	// The simulator's clock stands still during the first run: every job
	// is running, cannot be cancelled, and --job-timeout 1ns gives up on it.
	clock := clocktest.New(time.Now())
	e := setup(t, 4, sim.Config{Now: clock.Now})
	timeout := func(c *runner.Config) { c.JobTimeout = time.Nanosecond }
	sum, err := e.runOnce(t.Context(), timeout)
	require.ErrorIs(t, err, runner.ErrFailedRows)
	assert.Equal(t, 4, sum.Final[store.StateTimedOut])
	for _, j := range e.jobs() {
		require.NotEmpty(t, j.RequestID, "%s keeps its request ID", j.Key)
	}

	// The paid renders finish; the same command collects them, sending nothing new.
	clock.Advance(time.Hour)
	sum, err = e.runOnce(t.Context(), timeout)
	require.NoError(t, err)
	assert.Zero(t, sum.Submitted)
	assert.Equal(t, 4, sum.Downloaded)
	assert.EqualValues(t, 4, e.sim.Counters().Submits)
	e.assertAllDownloaded(4)
	// What they cost is recorded as for any other finished job.
	assert.Equal(t, 4, sum.ReportedCostJobs)
	assert.Equal(t, account.Dollars(4*0.044), sum.ReportedCostUSD)
	for _, j := range e.jobs() {
		if assert.NotNil(t, j.CostUSD, j.Key) {
			assert.InDelta(t, 0.044, *j.CostUSD, 1e-9)
		}
	}
}
