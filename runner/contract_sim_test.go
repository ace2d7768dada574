package runner_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/internal/clocktest"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// The documented contract end to end, against the simulator speaking it:
// the fakes in contract_test.go pin each decision, these show
// the same decisions with real answers on the wire.

// TestSimBalanceRunsOutThenIsToppedUp: the account pays for 8 jobs. The
// run stops submitting at the 400002 answer, collects what it had in
// flight and leaves the rest pending (never failed); after a top-up the
// same run finishes every row without paying twice for any.
func TestSimBalanceRunsOutThenIsToppedUp(t *testing.T) {
	t.Parallel()
	const rows, paid = 30, 8
	e := setup(t, rows, sim.Config{BalanceJobs: paid})
	_, err := e.runOnce(t.Context(), func(c *runner.Config) { c.Concurrency = 4 })
	require.ErrorIs(t, err, api.ErrPaymentRequired)
	require.ErrorIs(t, err, runner.ErrSubmitsStopped)
	c := e.sim.Counters()
	assert.EqualValues(t, paid, c.Submits)
	assert.Positive(t, c.BalanceRefusals)
	states := map[store.State]int{}
	for _, j := range e.jobs() {
		states[j.State]++
	}
	assert.Equal(t, paid, states[store.StateDone], "jobs in flight were collected")
	delete(states, store.StateDone)
	delete(states, store.StatePending)
	assert.Empty(t, states, "unsent rows stay pending (or unrecorded): none failed")

	e.sim.AddBalanceJobs(100)
	_, err = e.runOnce(t.Context(), func(c *runner.Config) { c.Concurrency = 4 })
	require.NoError(t, err)
	e.assertAllDownloaded(rows)
	c = e.sim.Counters()
	assert.EqualValues(t, rows, c.Submits)
	assert.Zero(t, c.DuplicateSubmits)
}

// TestSimCostReadAgainAfterDownload: an API that leaves a job's cost out of
// its first result read (RunComfy's own nodes read it again after the
// download for that reason): the run asks once more once the files are
// down, and every job's cost is recorded, per second of its duration.
func TestSimCostReadAgainAfterDownload(t *testing.T) {
	t.Parallel()
	const rows = 6
	e := setup(t, rows, sim.Config{LateCost: true})
	e.writeManifest(rows, func(i int, rec []string) {
		if i%2 == 1 {
			rec[5] = "10"
		}
	})
	looks := &resultsAgain{done: map[string]bool{}}
	sum, err := e.runAPI(t.Context(), looks.wrap, nil)
	require.NoError(t, err)
	e.assertAllDownloaded(rows)
	for key, j := range e.jobs() {
		require.NotNil(t, j.CostUSD, key)
		want := 0.044
		if key[len(key)-1]%2 == 1 {
			want = 0.088
		}
		assert.InDelta(t, want, *j.CostUSD, 1e-9, key)
	}
	assert.Equal(t, rows, sum.ReportedCostJobs)
	assert.InDelta(t, 3*0.044+3*0.088, sum.ReportedCostUSD.Float(), 1e-9)
	assert.Equal(t, rows, looks.count(), "one more result read per job, for its cost")
}

// resultsAgain counts the result reads of jobs already read completed:
// without expired URLs to refresh, the reads for a late cost.
type resultsAgain struct {
	runner.API
	mu    sync.Mutex
	done  map[string]bool
	again int
}

func (c *resultsAgain) wrap(a runner.API) runner.API { c.API = a; return c }

func (c *resultsAgain) Result(ctx context.Context, id string) (api.Result, error) {
	res, err := c.API.Result(ctx, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done[id] {
		c.again++
	}
	if err == nil && res.Status == api.StatusCompleted {
		c.done[id] = true
	}
	return res, err
}

func (c *resultsAgain) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.again
}

// TestSimNoCostIsNotAskedForeverAgain: an API that never reports a cost is
// asked again after a few downloads only: one more read per job would
// double a large batch's result calls for nothing.
func TestSimNoCostIsNotAskedForeverAgain(t *testing.T) {
	t.Parallel()
	const rows, concurrency = 60, 4
	e := setup(t, rows, sim.Config{NoCost: true})
	looks := &resultsAgain{done: map[string]bool{}}
	sum, err := e.runAPI(t.Context(), looks.wrap, func(c *runner.Config) { c.Concurrency = concurrency })
	require.NoError(t, err)
	e.assertAllDownloaded(rows)
	assert.Zero(t, sum.ReportedCostJobs)
	assert.Positive(t, looks.count(), "a late cost is looked for")
	// 16 misses and no cost ever: the run stops asking (a few more may be
	// on their way at once).
	assert.LessOrEqual(t, looks.count(), 16+concurrency, "then no more")
}

// TestSimOddStatusWordsRenderEveryRow: status words outside the docs
// (pending, waiting, starting, processing, and "queued", which no RunComfy
// client knows) mean "still running".
func TestSimOddStatusWordsRenderEveryRow(t *testing.T) {
	t.Parallel()
	const rows = 40
	// The simulator's clock moves 2 ms per look, not with the
	// wall clock: on a loaded machine every look could come after its job
	// had finished, and no odd word was ever drawn. Now the 40 jobs (20 ms
	// each, 4 at a time) need about 100 looks to finish, at most 40 of
	// which find their job finished: the rest may draw an odd word.
	clock := clocktest.New(time.Now())
	e := setupWrapped(t, rows, sim.Config{Slots: 4, Now: clock.Now, Faults: sim.Faults{RateOddStatus: 0.5, OddQueued: true}})
	simAPI := e.sim.APIHandler()
	e.api.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		simAPI.ServeHTTP(w, r)
		if ep := endpoint(r); ep == "status" || ep == "result" {
			clock.Advance(2 * time.Millisecond)
		}
	}))
	sum, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err, "summary %+v", sum)
	e.assertAllDownloaded(rows)
	assert.Positive(t, e.sim.Counters().OddStatusWords)
	assert.NotEmpty(t, sum.StatusWords, "the words are counted in the summary")
	for w := range sum.StatusWords {
		assert.Contains(t, []string{"pending", "waiting", "starting", "processing", "queued"}, w)
	}
}

// TestSimRevokedTokenOnAnHTTP400: the docs give 400004 no HTTP status; a
// 400 carrying it stops the run at once instead of failing rows one by one.
func TestSimRevokedTokenOnAnHTTP400(t *testing.T) {
	t.Parallel()
	e := setup(t, 50, sim.Config{BadTokenStatus: 400})
	e.token = "revoked"
	_, err := e.runOnce(t.Context(), nil)
	require.ErrorIs(t, err, api.ErrUnauthorized)
	assert.Zero(t, e.sim.Counters().Submits)
	for key, j := range e.jobs() {
		assert.Equal(t, store.StatePending, j.State, key)
	}
}

// TestSimUnknownModelInEveryErrorShape: 400001 stops the run after one
// submit, whichever body shape carries it.
func TestSimUnknownModelInEveryErrorShape(t *testing.T) {
	t.Parallel()
	for _, shape := range []string{sim.ShapeErrorMessage, sim.ShapeMessageDetail, sim.ShapeNested} {
		t.Run(shape, func(t *testing.T) {
			t.Parallel()
			e := setup(t, 20, sim.Config{ErrorShape: shape})
			_, err := e.runOnce(t.Context(), func(c *runner.Config) { c.Model = "pika/no-such-model" })
			require.ErrorIs(t, err, api.ErrUnknownModel)
			assert.Contains(t, err.Error(), "pika/no-such-model", "the message names the model")
			c := e.sim.Counters()
			assert.EqualValues(t, 1, c.UnknownModel, "one submit, not one per row")
			assert.Zero(t, c.Submits)
		})
	}
}

// TestSimAnotherAccountsRequestFailsThatJobOnly: 403001 on one job's
// status or result fails that job, with the API's message; the rest of
// the batch renders.
func TestSimAnotherAccountsRequestFailsThatJobOnly(t *testing.T) {
	t.Parallel()
	const rows = 12
	e := setup(t, rows, sim.Config{RunTime: 200 * time.Millisecond, ErrorShape: sim.ShapeNested})
	var once sync.Once
	disowned := ""
	_, err := e.runOnce(t.Context(), func(c *runner.Config) {
		c.Hooks.Submitted = func(key, requestID string) {
			once.Do(func() {
				disowned = key
				require.True(t, e.sim.Disown(requestID))
			})
		}
	})
	require.ErrorIs(t, err, runner.ErrFailedRows)
	jobs := e.jobs()
	for key, j := range jobs {
		if key == disowned {
			assert.Equal(t, store.StateFailed, j.State)
			assert.NotEmpty(t, j.LastError)
			continue
		}
		assert.Equal(t, store.StateDone, j.State, key)
	}
	assert.Positive(t, e.sim.Counters().OtherAccount)
}

// TestSimWithoutTimestamps: a result without created_at and finished_at
// still renders every row; the poller learns from its own looks.
func TestSimWithoutTimestamps(t *testing.T) {
	t.Parallel()
	const rows = 30
	e := setup(t, rows, sim.Config{Timestamps: sim.TimestampsNone})
	_, err := e.runOnce(context.Background(), nil)
	require.NoError(t, err)
	e.assertAllDownloaded(rows)
	assert.Less(t, pollsPerJob(e.sim.Counters()), 3.0, "polls per job")
}

func pollsPerJob(c sim.Counters) float64 {
	return float64(c.StatusCalls+c.ResultCalls-c.Completed) / float64(max(c.Completed, 1))
}
