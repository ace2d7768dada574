package runner

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/store"
)

// syncBuffer is a bytes.Buffer safe for a logger used from timer callbacks.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func setupLimits(t *testing.T, deadline, grace time.Duration) (*run, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	logs := &syncBuffer{}
	r, err := New(Config{Model: "m", OutDir: dir, Deadline: deadline, DeadlineGrace: grace,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}, noAPI{t}, st)
	require.NoError(t, err)
	return newRun(r), logs
}

// TestLimitsArmNothingAfterStop: the deadline timer's callback can fire
// just as the run stops its limits. Once stop has returned, that callback
// must neither stop submits nor arm the grace timer: either would outlive
// the run and reach into the next one.
func TestLimitsArmNothingAfterStop(t *testing.T) {
	t.Parallel()
	r, logs := setupLimits(t, time.Hour, time.Hour)
	_, stop := r.startLimits(t.Context())
	stop()

	r.limitReached(ErrDeadline) // what the deadline callback does, late

	assert.False(t, r.stopSubmits.Load(), "submits stopped after the run")
	assert.Empty(t, r.lim.timers, "a timer armed after stop")
	assert.NoError(t, r.limitErr(Summary{NotSubmitted: 1}, false), "a limit hit after stop")
	assert.NotContains(t, logs.String(), "deadline reached")
	stop() // twice is safe
}

// TestLimitsDeadlineThenGrace: the deadline stops submits, and the grace
// after it ends the run's context with ErrDeadline; stop returns with no
// callback running.
func TestLimitsDeadlineThenGrace(t *testing.T) {
	t.Parallel()
	r, logs := setupLimits(t, time.Nanosecond, -1) // negative: no grace
	lctx, stop := r.startLimits(t.Context())
	defer stop()

	<-lctx.Done()
	require.ErrorIs(t, context.Cause(lctx), ErrDeadline)
	assert.True(t, r.stopSubmits.Load())
	stop()
	assert.Error(t, r.limitErr(Summary{NotSubmitted: 1}, false))
	assert.Contains(t, logs.String(), "deadline reached")
}
