package main

import (
	"bytes"
	"context"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer written by the watcher and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWatchSignals(t *testing.T) {
	t.Parallel()
	t.Run("first cancels, second exits", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancelCause(t.Context())
		sigs := make(chan os.Signal, 2)
		var stderr lockedBuffer
		exited := make(chan int, 1)
		stop := watchSignals(sigs, cancel, &stderr, func(code int) { exited <- code })
		defer stop()

		sigs <- syscall.SIGTERM
		<-ctx.Done()
		var in *interrupted
		require.ErrorAs(t, context.Cause(ctx), &in)
		assert.Equal(t, syscall.SIGTERM, in.sig)
		assert.Contains(t, stderr.String(), "stopping")

		sigs <- syscall.SIGINT
		assert.Equal(t, exitSIGINT, <-exited)
		assert.Contains(t, stderr.String(), "exiting now")
		stop()
		stop() // twice is safe
	})
	t.Run("stop ends the watcher before any signal", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancelCause(t.Context())
		defer cancel(nil)
		sigs := make(chan os.Signal, 2)
		var stderr lockedBuffer
		stop := watchSignals(sigs, cancel, &stderr, func(int) { t.Error("exit called") })
		stop()

		sigs <- syscall.SIGINT // after stop: nobody handles it
		assert.NoError(t, ctx.Err())
		assert.Empty(t, stderr.String())
	})
	t.Run("stop ends the watcher after the first signal", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancelCause(t.Context())
		sigs := make(chan os.Signal, 2)
		var stderr lockedBuffer
		stop := watchSignals(sigs, cancel, &stderr, func(int) { t.Error("exit called") })
		sigs <- syscall.SIGINT
		<-ctx.Done()
		stop()

		sigs <- syscall.SIGINT // after stop: nobody handles it
		assert.NotContains(t, stderr.String(), "exiting now")
	})
}
