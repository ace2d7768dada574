package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// TestStopEndsSubmitsWaitingForARateToken: issue 14 item 5. With --rps 0.2
// a SIGTERM did not stop the submits waiting for a rate token: they were
// sent (and paid for) after the signal. A stop must end every submit that
// has not gone out, and leave its row pending.
func TestStopEndsSubmitsWaitingForARateToken(t *testing.T) {
	t.Parallel()
	e := setup(t, 6, sim.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// One token now, the next a second later: the second worker's submit
	// waits for it when the first one's answer stops the run.
	lim := rate.NewLimiter(rate.Every(time.Second), 1)
	sum, _, err := e.runClient(ctx, func(c *api.Config) {
		c.Limiter = lim
		c.FixedRate = true
	}, func(c *runner.Config) {
		c.Concurrency = 2
		c.Hooks.Submitted = func(string, string) { cancel() }
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.EqualValues(t, 1, e.sim.Counters().Submits, "no submit goes out after the stop")
	assert.Equal(t, 1, sum.Submitted)
	withID := 0
	for key, j := range e.jobs() {
		if j.RequestID != "" {
			withID++
			continue
		}
		assert.Equal(t, store.StatePending, j.State, "%s: never sent, so pending again", key)
	}
	assert.Equal(t, 1, withID, "the submit that went out is recorded with its request ID")
}
