package runner_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// refusingStore fails every Update that would move a job into state.
type refusingStore struct {
	*store.Store
	state store.State
}

func (s *refusingStore) Update(ctx context.Context, key string, fn func(*store.Job) error) (store.Job, error) {
	old, err := s.Store.Get(ctx, key)
	if err != nil {
		return store.Job{}, err
	}
	next := old
	if err := fn(&next); err == nil && next.State == s.state && old.State != s.state {
		return store.Job{}, fmt.Errorf("store: update %q: %w: %w", key, store.ErrWrite, syscall.EIO)
	}
	return s.Store.Update(ctx, key, fn)
}

// TestFailedStateWriteKeepsTheJob: when the write of a job's result or
// download fails, the run goes on with the job it had, not the zero Job
// store.Update returns with its error: the error names the row and the
// summary counts the job in the state it is really in (a zero job was
// counted in a state named "" and lost its orphan flag).
func TestFailedStateWriteKeepsTheJob(t *testing.T) {
	t.Parallel()
	for name, refused := range map[string]store.State{
		"result":   store.StateRendered, // recordResult
		"download": store.StateDone,     // download's record
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, 1, sim.Config{})
			require.NoError(t, os.MkdirAll(e.out, 0o755))
			st, err := store.Open(filepath.Join(e.out, ".pikabatch.db"), store.Options{})
			require.NoError(t, err)
			defer st.Close()
			client := e.client(nil)
			defer client.CloseIdleConnections()
			r, err := runner.New(e.simConfig(nil), client, &refusingStore{Store: st, state: refused})
			require.NoError(t, err)
			src, err := manifest.Open(e.manifest, manifest.FormatAuto)
			require.NoError(t, err)
			defer src.Close()

			sum, err := r.Run(t.Context(), src)
			require.ErrorIs(t, err, store.ErrWrite)
			assert.Contains(t, err.Error(), `"clip-0000"`, "the error names the row")
			assert.NotContains(t, err.Error(), `""`)
			assert.NotContains(t, sum.Final, store.State(""), "summary %+v", sum)
			assert.Equal(t, 1, sum.Rows)
		})
	}
}
