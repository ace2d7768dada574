package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func filePageSize(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	return db.Info().PageSize
}

// TestStateFilePageSize: a new state file, and a compacted one, has
// pageSize pages; a file written with bbolt's 4 KiB pages (every state
// file before this one) opens, takes writes and keeps its own until it is
// compacted, with every job.
func TestStateFilePageSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	require.NoError(t, f.store.Put(ctx, newJob("a")))
	assert.Equal(t, pageSize, f.store.db.Info().PageSize)

	old := filepath.Join(t.TempDir(), ".pikabatch.db")
	db, err := bolt.Open(old, 0o600, &bolt.Options{PageSize: 4096})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	s, err := Open(old, Options{Now: f.clock.Now, Owner: CurrentOwner("store test")})
	require.NoError(t, err)
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, s.Put(ctx, newJob(k)))
	}
	assert.Equal(t, 4096, s.db.Info().PageSize)
	s.compactMinBytes = 0
	res, err := s.Compact(ctx)
	require.NoError(t, err)
	require.True(t, res.Compacted)
	var keys []string
	require.NoError(t, s.ForEach(ctx, func(j Job) error {
		keys = append(keys, j.Key)
		return nil
	}))
	assert.Equal(t, []string{"a", "b", "c"}, keys)
	require.NoError(t, s.Close())
	assert.Equal(t, pageSize, filePageSize(t, old))
}

// TestSmallBatchSmallFile: a state file of a few jobs takes a few pages,
// not bbolt's 16 MiB growth step (a new file for 8 jobs was 16 MB); a
// large one still grows in steps that keep resizes rare.
func TestSmallBatchSmallFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	for i := range 8 {
		require.NoError(t, f.store.Put(ctx, newJob(fmt.Sprintf("row-%d", i))))
	}
	fi, err := os.Stat(f.store.Path())
	require.NoError(t, err)
	assert.LessOrEqual(t, fi.Size(), int64(512<<10), "8 jobs")

	assert.Equal(t, int64(minGrowth), growthFor(0))
	assert.Equal(t, int64(maxGrowth), growthFor(1<<30))
	assert.Equal(t, int64(4<<20), growthFor(16<<20), "a quarter of the file")
}
