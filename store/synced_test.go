package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func doneJob(key string, files ...Output) Job {
	j := newJob(key)
	j.State, j.RequestID, j.Outputs = StateDone, "req-"+key, files
	return j
}

func objectIn(prefix string) func(string) string {
	return func(p string) string { return prefix + p }
}

// unsynced lists Unsynced's files as key/path.
func unsynced(t *testing.T, s *Store, prefix string) []string {
	t.Helper()
	var got []string
	require.NoError(t, s.Unsynced(t.Context(), objectIn(prefix), func(key string, files []Output) error {
		for _, f := range files {
			got = append(got, key+"/"+f.Path)
		}
		return nil
	}))
	return got
}

// TestCopiesAreRecordedAndSurviveReopen: a recorded copy of a file's size
// and digest takes it off the list to upload, for good; another prefix,
// another digest or a forgotten copy puts it back.
func TestCopiesAreRecordedAndSurviveReopen(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	a := Output{Path: "a.mp4", Size: 3, SHA256: "aa"}
	b := Output{Path: "b.mp4", Size: 4, SHA256: "bb"}
	require.NoError(t, f.store.Put(ctx, doneJob("a", a)))
	require.NoError(t, f.store.Put(ctx, doneJob("b", b)))
	pending := newJob("c")
	require.NoError(t, f.store.Put(ctx, pending))

	const pre = "s3://bk/run/"
	assert.Equal(t, []string{"a/a.mp4", "b/b.mp4"}, unsynced(t, f.store, pre), "a state file that never synced")

	require.NoError(t, f.store.RecordCopy(ctx, pre+"a.mp4", Copy{Path: "a.mp4", Size: 3, SHA256: "aa"}))
	require.NoError(t, f.store.RecordCopy(ctx, pre+"b.mp4", Copy{Path: "b.mp4", Size: 4, SHA256: "old"}))
	assert.Equal(t, []string{"b/b.mp4"}, unsynced(t, f.store, pre), "a copy of another digest is no copy")
	assert.Equal(t, []string{"a/a.mp4", "b/b.mp4"}, unsynced(t, f.store, "s3://other/"), "copies elsewhere do not count")

	require.NoError(t, f.store.Close())
	s := f.open(t)
	c, ok, err := s.CopyOf(ctx, pre+"a.mp4")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Copy{Path: "a.mp4", Size: 3, SHA256: "aa", At: f.clock.Now()}, c)
	assert.Equal(t, []string{"b/b.mp4"}, unsynced(t, s, pre), "records survive a reopen")

	require.NoError(t, s.ForgetCopy(ctx, pre+"a.mp4"))
	require.NoError(t, s.ForgetCopy(ctx, pre+"never.mp4"))
	assert.Equal(t, []string{"a/a.mp4", "b/b.mp4"}, unsynced(t, s, pre))

	var listed []string
	require.NoError(t, s.ForEachCopy(ctx, pre, func(object string, c Copy) error {
		listed = append(listed, object+" "+c.SHA256)
		return nil
	}))
	assert.Equal(t, []string{pre + "b.mp4 old"}, listed)
}

// TestUnsyncedWalksEveryChunk: more done jobs than one read transaction
// decodes are all seen, once each, and fn may record copies as it goes.
func TestUnsyncedWalksEveryChunk(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	n := 2*unsyncedChunk + 3
	for i := range n {
		key := fmt.Sprintf("k%04d", i)
		require.NoError(t, f.store.Put(ctx, doneJob(key, Output{Path: key + ".mp4", Size: 1, SHA256: "x"})))
	}
	seen := 0
	err := f.store.Unsynced(ctx, objectIn("s3://b/"), func(key string, files []Output) error {
		seen++
		return f.store.RecordCopy(ctx, "s3://b/"+files[0].Path, Copy{Path: files[0].Path, Size: 1, SHA256: "x"})
	})
	require.NoError(t, err)
	assert.Equal(t, n, seen)
	assert.Empty(t, unsynced(t, f.store, "s3://b/"))
}

// TestCopiesReadOnly: a read-only state file without copies reads as none,
// and refuses to record one.
func TestCopiesReadOnly(t *testing.T) {
	f := setup(t)
	require.NoError(t, f.store.Close())
	ro, err := Open(f.path, Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	_, ok, err := ro.CopyOf(context.Background(), "s3://b/x")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.ErrorIs(t, ro.RecordCopy(context.Background(), "s3://b/x", Copy{}), ErrReadOnly)
	assert.Empty(t, unsynced(t, ro, "s3://b/"))
}
