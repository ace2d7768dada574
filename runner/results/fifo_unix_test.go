//go:build unix

package results_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// TestRecoverRefusesFIFOIndex: a FIFO at results.jsonl is refused as not a
// regular file instead of blocking recover in open(2) until some process
// writes to it; no state file is created.
func TestRecoverRefusesFIFOIndex(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	index := filepath.Join(dir, "results.jsonl")
	state := filepath.Join(dir, ".pikabatch.db")
	require.NoError(t, syscall.Mkfifo(index, 0o600))
	done := make(chan error, 1)
	go func() {
		_, err := results.Recover(context.Background(), dir, index, state, store.CurrentOwner("test"))
		done <- err
	}()
	bound := time.NewTimer(10 * time.Second)
	defer bound.Stop()
	for released := false; ; {
		select {
		case err := <-done:
			require.False(t, released, "recover blocked in open(2) on the FIFO")
			assert.ErrorIs(t, err, store.ErrNotRegular)
			assert.NoFileExists(t, state)
			return
		case <-bound.C:
			// Open and close both ends so that a blocked open returns.
			released = true
			if f, err := os.OpenFile(index, os.O_RDWR, 0); err == nil {
				_ = f.Close()
			}
			bound.Reset(100 * time.Millisecond)
		}
	}
}
