package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// A directory fsync that fails after the rename must not leave the Store
// writing to the old, unlinked file while the new one at the path is
// unlocked: its writes would be lost, and a second writer could open the
// path meanwhile.
func TestCompactDirSyncFailureKeepsTheNewFile(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	f.store.compactMinBytes = 0
	grow(t, f.store, 1000)
	eio := errors.New("input/output error")
	f.store.syncDir = func(string) error { return eio }

	_, err := f.store.Compact(ctx)
	require.ErrorIs(t, err, eio)

	_, err = Open(f.path, Options{LockTimeout: -1})
	var locked *LockedError
	require.ErrorAs(t, err, &locked, "the file at the path is still this Store's: no second writer")
	require.NoError(t, f.store.Put(ctx, newJob("written-after-compacting")))
	require.NoError(t, f.store.Close())
	s := f.open(t)
	_, err = s.Get(ctx, "written-after-compacting")
	require.NoError(t, err, "a write after a failed directory sync is not lost")
	assert.Len(t, allJobs(t, s), 1001)
}

// A state file that is a symlink is compacted where it lives: replacing
// the link with a regular file would leave the link's target with the
// older state, which a later run pointed at it would resume (and submit
// again every row done since).
func TestCompactThroughSymlinkReplacesTheTarget(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	real := filepath.Join(dir, "real", "state.db")
	require.NoError(t, os.MkdirAll(filepath.Dir(real), 0o700))
	link := filepath.Join(dir, ".pikabatch.db")
	require.NoError(t, os.Symlink(real, link))
	s, err := Open(link, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	s.compactMinBytes = 0
	grow(t, s, 1000)

	res, err := s.Compact(ctx)
	require.NoError(t, err)
	require.True(t, res.Compacted)
	require.NoError(t, s.Put(ctx, newJob("after")))
	require.NoError(t, s.Close())

	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode().Type(), "the link stays a link")
	assert.NoFileExists(t, real+".compact")
	assert.NoFileExists(t, link+".compact")
	byTarget, err := Open(real, Options{})
	require.NoError(t, err)
	defer byTarget.Close()
	assert.Equal(t, 1001, len(allJobs(t, byTarget)), "the target holds the newest state")
}

// The compacted file keeps the old one's permissions: a state shared with
// a group (or made private) stays so.
func TestCompactKeepsTheFileMode(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.store.compactMinBytes = 0
	grow(t, f.store, 1000)
	require.NoError(t, os.Chmod(f.path, 0o640))

	res, err := f.store.Compact(context.Background())
	require.NoError(t, err)
	require.True(t, res.Compacted)
	fi, err := os.Stat(f.path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
}

// A mark that was not current when the file was compacted must not turn
// current again when the new file's transaction IDs, which start again
// from a few, reach the number it was stamped with.
func TestCompactStaleMarkStaysStale(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	f.store.compactMinBytes = 0
	grow(t, f.store, 1000)
	// Stamped with a transaction ID the new file will reach soon.
	require.NoError(t, f.store.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(markPrefix+"stale"), []byte("9 old"))
	}))
	res, err := f.store.Compact(ctx)
	require.NoError(t, err)
	require.True(t, res.Compacted)
	for i := range 12 {
		require.NoError(t, f.store.SetMeta(ctx, "tick", time.Duration(i).String()))
		_, unchanged, err := f.store.Mark(ctx, "stale")
		require.NoError(t, err)
		require.False(t, unchanged, "after %d writes", i+1)
	}
}

// compactUntilKilled compacts the store at path and, at the step named
// step, says "at STEP" and waits to be killed.
func compactUntilKilled(path, step string) error {
	s, err := Open(path, Options{Owner: CurrentOwner("store test compact")})
	if err != nil {
		return err
	}
	s.compactMinBytes = 0
	s.compactReached = func(at string) {
		if at != step {
			return
		}
		if _, err := fmt.Println("at " + at); err != nil {
			os.Exit(3)
		}
		_, _ = io.Copy(io.Discard, os.Stdin) // until killed
		os.Exit(4)
	}
	if _, err := s.Compact(context.Background()); err != nil {
		return err
	}
	return fmt.Errorf("compaction never reached %q", step)
}

// A compaction killed -9 at any step leaves the state whole: every record,
// writable, with the lock free, and a later compaction works.
func TestCompactKilledAtEveryStep(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"copied", "carried", "renamed", "swapped"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			grow(t, f.store, 1000)
			want := allJobs(t, f.store)
			require.NoError(t, f.store.Close())

			h := startHelper(t, "compact", f.path, step)
			require.Equal(t, "at "+step, h.readLine(t))
			require.NoError(t, h.cmd.Process.Signal(syscall.SIGKILL))
			_ = h.wait()

			s := f.open(t)
			assert.NoFileExists(t, f.path+".compact", "a dead compaction's copy is not kept until the next one")
			assert.Equal(t, want, allJobs(t, s), "every job as it was")
			require.NoError(t, s.Put(context.Background(), newJob("after")))
			s.compactMinBytes = 0
			res, err := s.Compact(context.Background())
			require.NoError(t, err)
			assert.True(t, res.Compacted || step == "renamed" || step == "swapped", "%+v", res)
			assert.NoFileExists(t, f.path+".compact")
			assert.Len(t, allJobs(t, s), len(want)+1)
		})
	}
}

// A compaction that fails before its rename (here the copy cannot be
// created; a full disk or an I/O error fails the same way) leaves the
// Store on the old file, every job and the lock as they were.
func TestCompactFailingBeforeTheRenameChangesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	f.store.compactMinBytes = 0
	grow(t, f.store, 1000)
	want := allJobs(t, f.store)
	// A non-empty directory where the copy goes: not removed, not opened.
	require.NoError(t, os.MkdirAll(filepath.Join(f.path+".compact", "x"), 0o700))

	_, err := f.store.Compact(ctx)
	require.Error(t, err)
	_, err = Open(f.path, Options{LockTimeout: -1})
	var locked *LockedError
	require.ErrorAs(t, err, &locked)
	require.NoError(t, f.store.Put(ctx, newJob("after")))
	require.NoError(t, f.store.Close())
	s := f.open(t)
	got := allJobs(t, s)
	assert.Len(t, got, len(want)+1)
	delete(got, "after")
	assert.Equal(t, want, got)
}

// An Open that keeps finding the file replaced while it waited (a holder
// compacting again and again) gives up as locked; it never returns the
// file it locked when that is no longer the one at the path: its writes
// would be lost, beside a writer of the file that is.
func TestOpenLockedNeverReturnsAReplacedFile(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, f.store.Close())
	other := filepath.Join(t.TempDir(), "other")
	require.NoError(t, os.WriteFile(other, nil, 0o600))
	calls := 0
	// Every look at the path after the lock finds another file.
	changing := func(path string) (os.FileInfo, error) {
		calls++
		if calls%2 == 0 {
			return os.Stat(other)
		}
		return os.Stat(path)
	}
	db, err := openLockedStat(f.path, time.Second, false, changing)
	if db != nil {
		_ = db.Close()
	}
	require.ErrorIs(t, err, berrors.ErrTimeout)
}
