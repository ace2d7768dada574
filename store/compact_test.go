package store

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// grow writes n jobs as a run does, 32 at a time: pending first, then
// each grown by its request ID and a long URL, then done (which drops the
// URL).
func grow(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	each := func(fn func(key string) error) {
		var wg sync.WaitGroup
		keys := make(chan string)
		for range 32 {
			wg.Go(func() {
				for key := range keys {
					assert.NoError(t, fn(key))
				}
			})
		}
		for i := range n {
			keys <- fmt.Sprintf("job-%06d", i)
		}
		close(keys)
		wg.Wait()
	}
	each(func(key string) error { return s.Put(ctx, newJob(key)) })
	each(func(key string) error {
		_, err := s.Update(ctx, key, func(j *Job) error {
			j.State, j.RequestID = StateRendered, "req-"+key
			j.Outputs = []Output{{URL: "https://files.example/" + strings.Repeat("x", 300)}}
			return nil
		})
		return err
	})
	each(func(key string) error {
		_, err := s.Update(ctx, key, func(j *Job) error {
			j.State = StateDone
			j.Outputs[0].Path, j.Outputs[0].Size, j.Outputs[0].SHA256 = key+".mp4", 8192, strings.Repeat("a", 64)
			return nil
		})
		return err
	})
}

// pagesInUse is the file's size up to its last page in use.
func pagesInUse(t *testing.T, s *Store) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil }))
	return n
}

func allJobs(t *testing.T, s *Store) map[string]Job {
	t.Helper()
	jobs := map[string]Job{}
	require.NoError(t, s.ForEach(context.Background(), func(j Job) error {
		jobs[j.Key] = j
		return nil
	}))
	return jobs
}

func TestCompact(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	f.store.compactMinBytes = 0
	grow(t, f.store, 2000)
	require.NoError(t, f.store.SetMark(ctx, "index", "123"))
	want := allJobs(t, f.store)
	var gen uint64
	require.NoError(t, f.store.db.View(func(tx *bolt.Tx) error { gen = uint64(tx.ID()); return nil }))

	before := pagesInUse(t, f.store)
	res, err := f.store.Compact(ctx)
	require.NoError(t, err)
	require.True(t, res.Compacted)
	assert.Less(t, float64(pagesInUse(t, f.store)), 0.8*float64(before))
	fi, err := os.Stat(f.path)
	require.NoError(t, err)
	assert.Equal(t, res.After, fi.Size())
	assert.NoFileExists(t, f.path+".compact")

	assert.Equal(t, want, allJobs(t, f.store), "every job as it was")
	v, unchanged, err := f.store.Mark(ctx, "index")
	require.NoError(t, err)
	assert.Equal(t, "123", v)
	assert.True(t, unchanged, "compacting writes no job")
	got, err := f.store.Meta(ctx, metaGenerations)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(gen), got, "the old file's write transactions are kept count of")

	res, err = f.store.Compact(ctx)
	require.NoError(t, err)
	assert.False(t, res.Compacted, "a compacted file is full enough")

	// The store goes on working on the new file, and it reopens.
	require.NoError(t, f.store.Put(ctx, newJob("after")))
	_, unchanged, err = f.store.Mark(ctx, "index")
	require.NoError(t, err)
	assert.False(t, unchanged)
	require.NoError(t, f.store.Close())
	s := f.open(t)
	assert.Len(t, allJobs(t, s), len(want)+1)
}

func TestCompactSkipsSmallFiles(t *testing.T) {
	t.Parallel()
	f := setup(t)
	grow(t, f.store, 200)
	res, err := f.store.Compact(context.Background()) // compactMinBytes: 16 MB
	require.NoError(t, err)
	assert.False(t, res.Compacted, "%+v", res)
	assert.Equal(t, res.Before, res.After)
}

// An Open that waits for the lock while the holder compacts and closes
// ends up on the new file, never on the old one the rename unlinked (its
// writes would be lost).
func TestOpenWaitingThroughCompactGetsTheNewFile(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	f.store.compactMinBytes = 0
	grow(t, f.store, 1000)

	opened := make(chan *Store, 1)
	go func() {
		s, err := Open(f.path, Options{LockTimeout: time.Minute})
		assert.NoError(t, err)
		opened <- s
	}()
	res, err := f.store.Compact(ctx)
	require.NoError(t, err)
	require.True(t, res.Compacted)
	require.NoError(t, f.store.Put(ctx, newJob("written-after-compacting")))
	require.NoError(t, f.store.Close())

	s := <-opened
	require.NotNil(t, s)
	defer s.Close()
	_, err = s.Get(ctx, "written-after-compacting")
	require.NoError(t, err, "the waiting Open reads the file now at the path")
	require.NoError(t, s.Put(ctx, newJob("written-by-the-next-holder")))
	require.NoError(t, s.Close())
	s2, err := Open(f.path, Options{})
	require.NoError(t, err)
	defer s2.Close()
	_, err = s2.Get(ctx, "written-by-the-next-holder")
	require.NoError(t, err)
}

func TestCompactClosedOrReadOnly(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, f.store.Close())
	_, err := f.store.Compact(context.Background())
	assert.ErrorIs(t, err, ErrClosed)
	ro, err := Open(f.path, Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	_, err = ro.Compact(context.Background())
	assert.ErrorIs(t, err, ErrReadOnly)
}
