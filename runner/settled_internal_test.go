package runner

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/store"
)

// getOnly hides a store's GetSettled: planning reads whole records.
type getOnly struct{ jobs JobReader }

func (g getOnly) Get(ctx context.Context, key string) (store.Job, error) { return g.jobs.Get(ctx, key) }

// TestSettledPlansAsTheWholeRecord: planning a row off the Settled part of
// its job decides what planning it off the whole record decides, for a
// done job with its file, without it, with a file of another size, with
// changed parameters, an orphan, and jobs in other states; a skipped job
// keeps its key, state and orphan flag (what a run does with it).
func TestSettledPlansAsTheWholeRecord(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, st.Close()) })

	row := func(key string) manifest.Row {
		return manifest.Row{Key: key, Line: 2, Input: manifest.NewInput(manifest.Field{Name: "promptText", Value: "p-" + key})}
	}
	file := func(name string, size int) store.Output {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644))
		return store.Output{Path: name, Size: int64(size), SHA256: "ab"}
	}
	done := func(key string, outs ...store.Output) store.Job {
		return store.Job{Key: key, ParamHash: row(key).Input.Hash(), State: store.StateDone, RequestID: "r-" + key,
			Input: []byte(`{"promptText":"p"}`), Outputs: outs, CreatedAt: time.Now()}
	}
	missing := store.Output{Path: "gone.mp4", Size: 3, SHA256: "ab"}
	short := file("short.mp4", 2)
	short.Size = 5
	orphan := done("orphan", file("orphan.mp4", 4))
	orphan.Orphan = true
	changed := done("changed", file("changed.mp4", 4))
	changed.ParamHash = "old"
	failed := done("failed")
	failed.State = store.StateFailed
	rendered := done("rendered", store.Output{URL: "https://x/r.mp4"})
	rendered.State = store.StateRendered
	for _, j := range []store.Job{done("present", file("present.mp4", 4)), done("missing", missing),
		done("short", short), done("none"), orphan, changed, failed, rendered} {
		require.NoError(t, st.Put(ctx, j))
	}
	fs := &downloader{fs: OSFS{}, dir: dir}
	now := func() time.Time { return time.Unix(0, 0) }
	for _, key := range []string{"present", "missing", "short", "none", "orphan", "changed", "failed", "rendered", "new"} {
		wantJob, want, err := planRow(ctx, getOnly{st}, row(key), PlanOptions{}, fs.present, now)
		require.NoError(t, err, key)
		gotJob, got, err := planRow(ctx, st, row(key), PlanOptions{}, fs.present, now)
		require.NoError(t, err, key)
		assert.Equal(t, want, got, key)
		assert.Equal(t, wantJob.Key, gotJob.Key, key)
		assert.Equal(t, wantJob.State, gotJob.State, key)
		assert.Equal(t, wantJob.Orphan, gotJob.Orphan, key)
	}
	_, d, err := planRow(ctx, st, row("present"), PlanOptions{}, fs.present, now)
	require.NoError(t, err)
	assert.Equal(t, decision{act: actSkip}, d, "the done job with its file is skipped")
}
