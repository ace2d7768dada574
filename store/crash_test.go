package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// TestCrashSafety kills a writer with SIGKILL in the middle of its writes,
// several times over the same file, and checks that the file opens, passes
// bbolt's consistency check, and holds every write the writer saw return.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const (
		rounds        = 4
		linesPerRound = 400
	)
	path := filepath.Join(t.TempDir(), ".pikabatch.db")
	ctx := context.Background()
	want := map[string]State{} // every write reported, over all rounds

	for round := range rounds {
		h := startHelper(t, "crash", path, fmt.Sprintf("r%d", round))
		for range linesPerRound {
			verb, key, ok := strings.Cut(h.readLine(t), " ")
			require.True(t, ok)
			switch verb {
			case "put":
				if _, seen := want[key]; !seen {
					want[key] = StateSubmitted
				}
			case "upd":
				want[key] = StateRunning
			default:
				require.FailNow(t, "unexpected helper line", verb)
			}
		}
		require.NoError(t, h.cmd.Process.Signal(syscall.SIGKILL))
		require.Error(t, h.wait())
		status, ok := h.cmd.ProcessState.Sys().(syscall.WaitStatus)
		require.True(t, ok)
		require.True(t, status.Signaled() && status.Signal() == syscall.SIGKILL,
			"helper should die by SIGKILL, not exit: %v; stderr: %s", h.cmd.ProcessState, h.stderr.String())
		require.FileExists(t, ownerPath(path), "a killed holder leaves its owner file behind")

		s, err := Open(path, Options{})
		require.NoError(t, err, "round %d: a stale owner file and a killed writer must not block Open", round)
		assert.Empty(t, checkBolt(t, s), "round %d", round)

		missing := 0
		for key, state := range want {
			job, err := s.Get(ctx, key)
			if !assert.NoError(t, err, "round %d: reported write lost", round) {
				missing++
				continue
			}
			assert.Equal(t, "req-"+key, job.RequestID)
			if state == StateRunning {
				assert.Equal(t, StateRunning, job.State, "round %d: reported update lost for %s", round, key)
			}
		}
		require.Zero(t, missing)
		counts, err := s.Counts(ctx)
		require.NoError(t, err)
		total := 0
		for _, n := range counts {
			total += n
		}
		assert.GreaterOrEqual(t, total, len(want))
		require.NoError(t, s.Close())
		t.Logf("round %d: %d reported writes survived SIGKILL (%d jobs on file)", round, len(want), total)
	}
	_, err := os.Stat(ownerPath(path))
	assert.ErrorIs(t, err, os.ErrNotExist, "Close removes the owner file")
}

// checkBolt runs bbolt's consistency check and returns what it found.
func checkBolt(t *testing.T, s *Store) []error {
	t.Helper()
	var found []error
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() { // drain it all: Check's goroutine sends until done
			found = append(found, err)
		}
		return nil
	}))
	return found
}
