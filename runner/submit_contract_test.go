package runner_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
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

// TestStopEndsSubmitsWaitingForARateToken: with --rps 0.2
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

// TestGatewayErrorAfterCreateIsUncertain: a gateway that
// gives up after the API created the job answers 502/504; the client used
// to retry it, paying again unseen. Now each such submit is uncertain:
// re-sent once and counted (every duplicate is one the summary owns up
// to), or held.
func TestGatewayErrorAfterCreateIsUncertain(t *testing.T) {
	t.Parallel()
	const rows = 30
	faults := sim.Faults{RateGatewayAfterCreate: 0.3}
	t.Run("re-send once", func(t *testing.T) {
		t.Parallel()
		e := setup(t, rows, sim.Config{Seed: 23, Faults: faults})
		sum, _ := e.runOnce(t.Context(), nil)
		c := e.sim.Counters()
		t.Logf("gateway errors %d; summary uncertain %d, re-sent %d, held %d", c.GatewayAfterCreate, sum.Uncertain, sum.Resent, sum.Held)
		require.Positive(t, c.GatewayAfterCreate)
		assert.EqualValues(t, c.GatewayAfterCreate, sum.Uncertain, "every gateway error is uncertain")
		assert.EqualValues(t, c.GatewayAfterCreate, sum.Resent+sum.Held)
		assert.EqualValues(t, c.DuplicateSubmits, sum.Resent, "each re-send of a created job is a duplicate, and reported")
		assert.EqualValues(t, rows+sum.Resent, c.Submits, "nothing is sent that the summary does not count")
	})
	t.Run("hold", func(t *testing.T) {
		t.Parallel()
		e := setup(t, rows, sim.Config{Seed: 23, Faults: faults})
		sum, err := e.runOnce(t.Context(), func(c *runner.Config) { c.HoldUncertain = true })
		require.ErrorIs(t, err, runner.ErrHeld)
		c := e.sim.Counters()
		require.Positive(t, c.GatewayAfterCreate)
		assert.EqualValues(t, c.GatewayAfterCreate, sum.Held)
		assert.Zero(t, c.DuplicateSubmits, "nothing is paid twice")
		assert.EqualValues(t, rows, c.Submits)
	})
}

// TestBodyTooLargeFailsOnlyThatRow: a proxy's 413 for one
// row's oversized body stopped every submit, on every run. It is that
// row's rejection: the row fails, the others render.
func TestBodyTooLargeFailsOnlyThatRow(t *testing.T) {
	t.Parallel()
	const rows = 6
	e := setupWrapped(t, rows, sim.Config{})
	simAPI := e.sim.APIHandler()
	e.api.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte("scene 3")) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				_, _ = io.WriteString(w, "<html><body>413 Request Entity Too Large</body></html>")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		simAPI.ServeHTTP(w, r)
	}))
	sum, _, err := e.runClient(t.Context(), nil, nil)
	require.ErrorIs(t, err, runner.ErrFailedRows)
	assert.Equal(t, 1, sum.Failed)
	assert.Equal(t, rows-1, sum.Final[store.StateDone])
	assert.EqualValues(t, rows-1, e.sim.Counters().Submits, "every other row was sent")
	j := e.jobs()["clip-0003"]
	assert.Equal(t, store.StateFailed, j.State)
	assert.Contains(t, j.LastError, "413")
}
