package runner_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// fullStore is a store whose volume fills up just as it is asked to record
// a request ID, after a number of them went through: that write and every
// later Put and Update fail, as bbolt's would on ENOSPC.
type fullStore struct {
	*store.Store
	mu   sync.Mutex
	ids  int // request IDs still recorded before the volume is full
	full bool
}

var errFull = fmt.Errorf("%w: %w", store.ErrWrite, syscall.ENOSPC)

func (f *fullStore) Put(ctx context.Context, j store.Job) error {
	f.mu.Lock()
	full := f.full
	f.mu.Unlock()
	if full {
		return fmt.Errorf("store: put %q: %w", j.Key, errFull)
	}
	return f.Store.Put(ctx, j)
}

func (f *fullStore) Update(ctx context.Context, key string, fn func(*store.Job) error) (store.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.full {
		old, err := f.Store.Get(ctx, key)
		if err != nil {
			return store.Job{}, err
		}
		next := old
		if err := fn(&next); err == nil && old.RequestID == "" && next.RequestID != "" {
			if f.ids == 0 {
				f.full = true
			}
			f.ids--
		}
	}
	if f.full {
		return store.Job{}, fmt.Errorf("store: update %q: %w", key, errFull)
	}
	return f.Store.Update(ctx, key, fn)
}

// TestRequestIDsSurviveAFullStateVolume: with the state on a
// full volume, jobs the API had created stayed `submitting`, their request
// IDs were never logged, the next run paid for them again, and the run
// exited 1. Now each such ID is logged and journaled, submits stop at once,
// the run fails with store.ErrWrite (exit 73), and the next run polls the
// journaled jobs instead of submitting them again.
func TestRequestIDsSurviveAFullStateVolume(t *testing.T) {
	t.Parallel()
	const rows = 20
	e := setup(t, rows, sim.Config{RunTime: 50 * time.Millisecond})
	require.NoError(t, os.MkdirAll(e.out, 0o755))
	statePath := filepath.Join(e.out, ".pikabatch.db")
	st, err := store.Open(statePath, store.Options{})
	require.NoError(t, err)
	fs := &fullStore{Store: st, ids: 3}
	client, err := api.New(api.Config{BaseURL: e.apiURL, Token: api.Token(e.token),
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	r, err := runner.New(runner.Config{
		Model: "pika/pika-2-2/image-to-video", OutDir: e.out, Concurrency: 4, DownloadConcurrency: 2,
		Poll:   runner.PollConfig{Initial: 5 * time.Millisecond, Min: 2 * time.Millisecond, Max: 50 * time.Millisecond},
		Logger: testLogger(t),
	}, client, fs)
	require.NoError(t, err)
	src, err := manifest.Open(e.manifest, manifest.FormatAuto)
	require.NoError(t, err)
	_, runErr := r.Run(t.Context(), src)
	require.NoError(t, src.Close())
	require.NoError(t, st.Close())

	t.Logf("run: %v", runErr)
	require.ErrorIs(t, runErr, store.ErrWrite, "exit 73, not 1")
	assert.ErrorIs(t, runErr, syscall.ENOSPC)
	assert.NotContains(t, runErr.Error(), `""`, "the error names the row")
	created := e.sim.Jobs()
	require.Less(t, len(created), rows, "submits stopped at once")

	// Every job the API created is in the state or in the journal.
	journal, err := os.ReadFile(store.JournalPath(statePath))
	require.NoError(t, err, "the journal exists")
	jobs := e.jobs() // opens the store, which applies the journal
	assert.NoFileExists(t, store.JournalPath(statePath), "applied and removed")
	journaled := 0
	ids := map[string]bool{}
	for _, j := range jobs {
		if j.RequestID != "" {
			ids[j.RequestID] = true
		}
	}
	for _, c := range created {
		assert.True(t, ids[c.RequestID], "request %s is known to the state", c.RequestID)
		if containsID(journal, c.RequestID) {
			journaled++
		}
	}
	require.Positive(t, journaled, "the test must lose some request IDs")
	t.Logf("%d jobs created, %d request IDs recovered from the journal", len(created), journaled)

	before := e.sim.Counters()
	_, err = e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	e.assertAllDownloaded(rows)
	after := e.sim.Counters()
	assert.EqualValues(t, rows, after.Submits, "every row paid once")
	assert.Zero(t, after.DuplicateSubmits)
	assert.GreaterOrEqual(t, after.Submits, before.Submits)
}

func containsID(journal []byte, id string) bool {
	return strings.Contains(string(journal), `"request_id":"`+id+`"`)
}
