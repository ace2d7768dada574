package store

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
