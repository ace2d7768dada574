package runner

import (
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/store"
)

// readings is a clock that returns its readings in turn, then the last.
type readings struct {
	mu sync.Mutex
	at []time.Time
}

func (c *readings) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.at[0]
	if len(c.at) > 1 {
		c.at = c.at[1:]
	}
	return now
}

// TestLookFailedReadsTheClockOnce: whether a job's failing look is its own
// trouble (park it) or the API's outage (give up the run) is decided on one
// reading of the clock. With a reading each, a machine that paused between
// them saw the job's trouble under the outage limit and the outage over it,
// and gave the run up (exit 69) while other calls went through
// (TestAJobWhoseStatusKeepsFailingIsLeftInFlight, 5/300 under load).
func TestLookFailedReadsTheClockOnce(t *testing.T) {
	t.Parallel()
	const limit = 20 * time.Millisecond
	t0 := time.Now()
	clock := &readings{at: []time.Time{t0}}
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	rn, err := New(Config{Model: "m", OutDir: dir, OutageLimit: limit, Now: clock.Now,
		Poll:   PollConfig{Initial: time.Millisecond, Min: time.Millisecond, Max: time.Millisecond},
		Logger: slog.New(slog.DiscardHandler)}, noAPI{t}, st)
	require.NoError(t, err)
	r := newRun(rn)
	job := store.Job{Key: "k", State: store.StateSubmitted, RequestID: "req-1"}
	require.NoError(t, st.Put(t.Context(), job))
	unavailable := &api.UnavailableError{Attempts: 4, Err: &api.StatusError{Code: 500, Op: "status"}}

	// The job's look at t0 fails; another job's call succeeds meanwhile.
	r.outage.ok(t0)
	var trouble jobTrouble
	w := &jobWatch{}
	clock.at = []time.Time{t0}
	_, done, err := r.lookFailed(t.Context(), job, w, &trouble, unavailable, t0)
	require.NoError(t, err)
	require.False(t, done, "a first failure: look again")

	// It fails again just short of the limit; the machine pauses before
	// any later reading.
	clock.at = []time.Time{t0.Add(limit - time.Millisecond), t0.Add(limit)}
	_, done, err = r.lookFailed(t.Context(), job, w, &trouble, unavailable, t0.Add(limit-2*time.Millisecond))
	require.NoError(t, err, "other calls succeed: not an outage")
	assert.False(t, done, "under the limit: look again")

	// At the limit it is this job's own trouble: parked, the run goes on.
	clock.at = []time.Time{t0.Add(limit)}
	_, done, err = r.lookFailed(t.Context(), job, w, &trouble, unavailable, t0.Add(limit))
	require.NoError(t, err)
	assert.True(t, done)
	assert.EqualValues(t, 1, r.stats.parked.Load())
}
