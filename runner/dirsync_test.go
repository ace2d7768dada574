package runner

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDirSyncerSharesRoundsAndNeverReusesAnEarlierOne(t *testing.T) {
	// started counts fsyncs begun; a caller records it before calling Sync
	// and must be answered by an fsync begun later.
	var started, ended atomic.Int64
	release := make(chan struct{})
	s := newDirSyncer(func() error {
		started.Add(1)
		<-release
		ended.Add(1)
		return nil
	})

	const callers = 50
	var wg sync.WaitGroup
	var stale atomic.Int64
	for range callers {
		wg.Go(func() {
			before := started.Load()
			require.NoError(t, s.Sync())
			if ended.Load() <= before {
				stale.Add(1) // answered by an fsync that began before the call
			}
		})
	}
	// Let the rounds go one at a time until every caller is answered.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case release <- struct{}{}:
			continue
		case <-done:
		}
		break
	}
	assert.Zero(t, stale.Load())
	assert.Less(t, started.Load(), int64(callers), "callers share fsyncs")
	assert.GreaterOrEqual(t, started.Load(), int64(1))
}

func TestDirSyncerReportsTheRoundsError(t *testing.T) {
	boom := errors.New("boom")
	fail := true
	s := newDirSyncer(func() error {
		if fail {
			return boom
		}
		return nil
	})
	assert.ErrorIs(t, s.Sync(), boom)
	fail = false
	assert.NoError(t, s.Sync(), "a later round starts afresh")
}

func TestDirSyncerCloseWaitsForItsGoroutine(t *testing.T) {
	var syncs atomic.Int64
	s := newDirSyncer(func() error { syncs.Add(1); return nil })
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { assert.NoError(t, s.Sync()) })
	}
	wg.Wait()
	s.Close()
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	assert.False(t, running, "the rounds' goroutine ended before Close returned")

	before := syncs.Load()
	require.NoError(t, s.Sync(), "a Sync after Close still syncs")
	assert.Equal(t, before+1, syncs.Load())
	s.Close() // twice: no harm
}
