//go:build unix

package store

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// notBlocked runs fn and returns its error. Should fn block in open(2) on
// the FIFO at fifo, the test opens and closes the FIFO's ends after a
// generous bound, again and again until fn returns, and then fails instead
// of hanging.
func notBlocked(t *testing.T, fifo string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	bound := time.NewTimer(10 * time.Second)
	defer bound.Stop()
	released := false
	for {
		select {
		case err := <-done:
			if released {
				t.Fatalf("blocked in open(2) on the FIFO at %s (then returned %v)", fifo, err)
			}
			return err
		case <-bound.C:
			released = true
			if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
				_ = f.Close()
			}
			bound.Reset(100 * time.Millisecond)
		}
	}
}

// TestFIFOBesideTheBatchRefused: a FIFO planted at the state file, its
// journal or its owner file is refused as not a regular file, without
// waiting for a writer that never comes; a directory at the state file
// too.
func TestFIFOBesideTheBatchRefused(t *testing.T) {
	t.Parallel()
	for name, plant := range map[string]func(state string) string{
		"state file": func(state string) string { return state },
		"journal":    JournalPath,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			state := filepath.Join(t.TempDir(), ".pikabatch.db")
			if name != "state file" {
				s, err := Open(state, Options{Owner: CurrentOwner("fifo test")})
				require.NoError(t, err)
				require.NoError(t, s.Close())
			}
			fifo := plant(state)
			require.NoError(t, syscall.Mkfifo(fifo, 0o600))
			for _, ro := range []bool{false, true} {
				err := notBlocked(t, fifo, func() error {
					s, err := Open(state, Options{ReadOnly: ro, Owner: CurrentOwner("fifo test")})
					if err == nil {
						_ = s.Close()
					}
					return err
				})
				if ro && name == "journal" {
					// A reader leaves the journal to the next writer.
					require.NoError(t, err)
					continue
				}
				require.ErrorIs(t, err, ErrNotRegular, "read-only %v", ro)
				assert.Contains(t, err.Error(), "named pipe")
			}
			if name == "journal" {
				_, _, err := ReadJournal(state, "")
				assert.ErrorIs(t, err, ErrNotRegular)
				err = notBlocked(t, fifo, func() error {
					return AppendJournal(state, JournalEntry{Key: "k", RequestID: "r", Time: time.Now()})
				})
				assert.ErrorIs(t, err, ErrNotRegular)
			}
		})
	}
}

// TestStateDirectoryRefused: a directory at the state path is refused, not
// taken for a damaged file to rebuild.
func TestStateDirectoryRefused(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), ".pikabatch.db")
	require.NoError(t, os.Mkdir(state, 0o700))
	_, err := Open(state, Options{Owner: CurrentOwner("dir test")})
	assert.ErrorIs(t, err, ErrNotRegular)
}

// TestOwnerFIFOIgnored: a FIFO at the owner file does not block the
// message that names the holder of a locked state file.
func TestOwnerFIFOIgnored(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), ".pikabatch.db")
	s, err := Open(state, Options{Owner: CurrentOwner("holder")})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, os.Remove(ownerPath(state)))
	require.NoError(t, syscall.Mkfifo(ownerPath(state), 0o600))
	err = notBlocked(t, ownerPath(state), func() error {
		_, err := Open(state, Options{LockTimeout: -1, Owner: CurrentOwner("other")})
		return err
	})
	assert.ErrorIs(t, err, ErrLocked)
}
