package runner_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// TestAnAPIThatLosesEveryAnswerStopsTheRun: a gateway in front of the API
// that lets every submit create its paid job and answers 502 or 504 (or
// an API that drops every answer) used to cost two jobs a row for the
// whole manifest and render nothing. Now the run stops submitting, re-sends
// included, once most answers in the order they come are lost and the
// ones sent alone keep being lost: a handful of jobs, however many
// workers, and the rows left are pending or held for the next run.
func TestAnAPIThatLosesEveryAnswerStopsTheRun(t *testing.T) {
	t.Parallel()
	const rows = 100
	cases := []struct {
		name        string
		faults      sim.Faults
		concurrency int
		hold        bool
		maxJobs     int64
	}{
		{"a gateway at 4 workers", sim.Faults{RateGatewayAfterCreate: 1}, 4, false, 12},
		{"a gateway at 4 workers, holding lost answers", sim.Faults{RateGatewayAfterCreate: 1}, 4, true, 12},
		{"lost answers at 32 workers", sim.Faults{RateLostResponse: 1}, 32, false, 12},
		{"a gateway at 1 worker", sim.Faults{RateGatewayAfterCreate: 1}, 1, false, 12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, rows, sim.Config{Slots: 64, Faults: tc.faults})
			sum, err := e.runOnce(t.Context(), func(c *runner.Config) {
				c.Concurrency, c.HoldUncertain = tc.concurrency, tc.hold
			})
			require.ErrorIs(t, err, runner.ErrUncertainSubmits)
			require.ErrorIs(t, err, runner.ErrSubmitsStopped)
			c := e.sim.Counters()
			t.Logf("jobs created %d; summary: uncertain %d, re-sent %d, held %d, not submitted %d",
				c.Submits, sum.Uncertain, sum.Resent, sum.Held, sum.NotSubmitted)
			assert.LessOrEqual(t, c.Submits, tc.maxJobs, "jobs created before the run stopped")
			assert.EqualValues(t, c.Submits, sum.Uncertain, "every job created is counted as a lost answer")
			assert.EqualValues(t, c.DuplicateSubmits, sum.Resent, "every re-send is counted, and only those")
			assert.Equal(t, rows, sum.Held+sum.NotSubmitted, "no row ended otherwise")
			states := countStates(e.jobs())
			assert.Equal(t, sum.Held, states[store.StateUncertain])
			assert.Zero(t, states[store.StateSubmitted])
		})
	}
}

// TestAFewLostAnswersNeverStopTheRun: the submit faults of the chaos and
// soak runs (429s, 5xx, drops, lost answers, gateways: about one submit in
// nine answered uncertain) never stop the run, at 4 workers or 32.
func TestAFewLostAnswersNeverStopTheRun(t *testing.T) {
	t.Parallel()
	const rows = 300
	for _, workers := range []int{4, 32} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			t.Parallel()
			e := setup(t, rows, sim.Config{Seed: 2026, Slots: 64, Faults: sim.Faults{
				Rate429: 0.05, RetryAfter: time.Second, Rate5xx: 0.05, RateDrop: 0.03,
				RateLostResponse: 0.03, RateGatewayAfterCreate: 0.02,
			}})
			sum, _, err := e.runClient(t.Context(), nil, func(c *runner.Config) {
				c.Concurrency, c.MaxResends = workers, 10
			})
			require.NoError(t, err, "summary %+v", sum)
			assert.Positive(t, sum.Uncertain)
			e.assertAllDownloaded(rows)
			c := e.sim.Counters()
			assert.EqualValues(t, rows+c.DuplicateSubmits, c.Submits)
			assert.LessOrEqual(t, int(c.DuplicateSubmits), sum.Resent)
		})
	}
}

// TestASubmitsGatewayFailingMidRunCollectsWhatIsInFlight: the gateway
// starts failing after the run's first jobs were accepted. The run stops
// submitting and still collects those jobs, and says why it stopped.
func TestASubmitsGatewayFailingMidRunCollectsWhatIsInFlight(t *testing.T) {
	t.Parallel()
	const rows, good, workers = 60, 8, 8
	e := setupWrapped(t, rows, sim.Config{Slots: 64, RunTime: 300 * time.Millisecond})
	simAPI := e.sim.APIHandler()
	var submits atomic.Int32
	e.api.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if endpoint(r) != "submit" || submits.Add(1) <= good {
			simAPI.ServeHTTP(w, r)
			return
		}
		// The job is created; the gateway answers 502.
		simAPI.ServeHTTP(httptest.NewRecorder(), r)
		http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
	}))
	sum, _, err := e.runClient(t.Context(), nil, func(c *runner.Config) { c.Concurrency = workers })
	require.ErrorIs(t, err, runner.ErrUncertainSubmits)
	c := e.sim.Counters()
	t.Logf("jobs created %d; summary %+v", c.Submits, sum)
	// The slots the accepted jobs free are taken at once by rows whose
	// answers are lost; the window, full of clear answers, needs 7 lost
	// ones to be mostly lost; then 7 go alone and submits stop.
	assert.LessOrEqual(t, c.Submits, int64(good+2*workers+7))
	assert.Equal(t, good, sum.Submitted)
	assert.Equal(t, good, sum.Downloaded, "the jobs accepted before were collected")
	assert.Equal(t, good, sum.Final[store.StateDone])
	assert.Equal(t, rows-good, sum.Final[store.StateUncertain]+sum.Final[store.StatePending])
}

// TestUncertainSubmitsCountOnTheOutageClock: a gateway that takes a
// minute to answer each submit with a 504 creates a job a minute. Its
// uncertain answers are failures on the outage clock: no clear answer for
// the outage limit stops submits, before the answers' own count would.
func TestUncertainSubmitsCountOnTheOutageClock(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.submitErr = func(int) error {
		return &api.UncertainError{Err: &api.StatusError{Code: http.StatusGatewayTimeout, Op: "submit"}}
	}
	e := setupFake(t, 20)
	clock := &steppingClock{at: time.Unix(1_800_000_000, 0), step: time.Minute}
	sum, err := e.runFake(t.Context(), f, func(c *runner.Config) {
		c.Concurrency, c.OutageLimit, c.Now = 1, 2*time.Minute, clock.Now
	})
	require.ErrorIs(t, err, runner.ErrUncertainSubmits)
	assert.ErrorContains(t, err, "no clear answer from the API for 2m0s")
	assert.LessOrEqual(t, f.submitCount(), 4, "stopped at the outage limit")
	assert.Equal(t, f.submitCount(), sum.Uncertain)
}

// steppingClock moves on by step at each reading.
type steppingClock struct {
	mu   sync.Mutex
	at   time.Time
	step time.Duration
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(c.step)
	return c.at
}

// TestARefusedResendIsNotCounted: a re-send the send gate refuses (as the
// budget does, at --max-cost) never left, so it is no possible duplicate
// charge: the summary counts only the re-sends that went out.
func TestARefusedResendIsNotCounted(t *testing.T) {
	t.Parallel()
	const rows = 4
	e := setup(t, rows, sim.Config{Faults: sim.Faults{RateLostResponse: 1}})
	errBudget := errors.New("over budget")
	var mu sync.Mutex
	sent := map[string]bool{}
	gate := func(a runner.API) runner.API {
		return submitFunc{API: a, submit: func(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error) {
			key := fmt.Sprint(input)
			record := opts.SendGate
			opts.SendGate = func() error {
				mu.Lock()
				defer mu.Unlock()
				if sent[key] {
					return errBudget // the re-send would pass the budget
				}
				sent[key] = true
				return record()
			}
			return a.Submit(ctx, model, input, opts)
		}}
	}
	sum, err := e.runAPI(t.Context(), gate, nil)
	require.ErrorIs(t, err, errBudget)
	assert.EqualValues(t, rows, e.sim.Counters().Submits)
	assert.Zero(t, e.sim.Counters().DuplicateSubmits)
	assert.Zero(t, sum.Resent, "no re-send went out")
	assert.Equal(t, rows, sum.Uncertain)
	assert.Equal(t, rows, sum.Held)
}

// submitFunc is an API whose submits go through submit.
type submitFunc struct {
	runner.API
	submit func(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error)
}

func (s submitFunc) Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error) {
	return s.submit(ctx, model, input, opts)
}
