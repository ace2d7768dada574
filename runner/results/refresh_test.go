package results_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// TestRefreshRewritesOnlyWhatChanged: the index is written from the state
// file, left alone while nothing was written to the state since, and
// written again when the state changed or the file is not as written; a
// temporary file a killed writer left is removed.
func TestRefreshRewritesOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, ".pikabatch.db"), store.Options{Now: func() time.Time { return time.Unix(1, 0) }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Put(ctx, store.Job{Key: "a", State: store.StatePending}))
	path := filepath.Join(dir, results.IndexFile)
	stale := filepath.Join(dir, "."+results.IndexFile+"-123.tmp")
	require.NoError(t, os.WriteFile(stale, []byte("half"), 0o644))
	src := results.StoreEntries{Jobs: st}

	require.NoError(t, results.Refresh(ctx, path, src, st))
	assert.NoFileExists(t, stale, "a killed writer's temporary file")
	first, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(first), `"key":"a"`)

	// Unchanged: a file put in its place with the same size stays.
	same := make([]byte, len(first))
	for i := range same {
		same[i] = 'x'
	}
	require.NoError(t, os.WriteFile(path, same, 0o644))
	require.NoError(t, results.Refresh(ctx, path, src, st))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, same, got, "nothing written to the state: not rewritten")

	require.NoError(t, st.Put(ctx, store.Job{Key: "b", State: store.StatePending}))
	require.NoError(t, results.Refresh(ctx, path, src, st))
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(got), `"key":"b"`, "the state changed: rewritten")

	require.NoError(t, os.Remove(path))
	require.NoError(t, results.Refresh(ctx, path, src, st))
	assert.FileExists(t, path, "gone: written again")
	require.NoError(t, results.Refresh(ctx, path, src, nil))
}
