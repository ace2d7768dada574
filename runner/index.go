package runner

import (
	"context"
	"os"
	"path/filepath"
	"strconv"

	"github.com/pikabatch/pikabatch/runner/atomicfile"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// writeIndex rewrites <out>/results.jsonl atomically from the store.
func (r *Runner) writeIndex(ctx context.Context) error {
	name := r.cfg.IndexName
	if name == "" {
		name = results.IndexFile
	}
	final := filepath.Join(r.cfg.OutDir, name)
	// A temporary file left by a run killed while writing is stale: this
	// run holds the state file's lock. (Each index has its own, so shards
	// sharing a folder never touch each other's.)
	if stale, err := filepath.Glob(atomicfile.TempPattern(final)); err == nil {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	marks, _ := r.store.(indexMarker)
	if marks != nil && indexUpToDate(ctx, marks, final) {
		// Nothing was written to the store since this file was: a re-run
		// of a finished batch need not re-encode it (0.8 s and 53 MB at
		// 100,000 rows).
		return nil
	}
	src := storeEntries{st: r.store, est: r.cfg.EstimateCost}
	if _, err := results.WriteIndex(ctx, results.WriteOptions{Format: results.JSONL, Path: final}, src); err != nil {
		return err
	}
	if marks != nil {
		if fi, err := os.Stat(final); err == nil {
			// Best effort: without the mark the next run rewrites the file.
			_ = marks.SetMark(ctx, indexMarkKey(final), strconv.FormatInt(fi.Size(), 10))
		}
	}
	return nil
}

// storeEntries lists the store's jobs as index entries, with the cost
// estimated for a sent job the API reported no cost for.
type storeEntries struct {
	st  Checkpoint
	est results.Estimator
}

func (s storeEntries) Export(ctx context.Context, fn func(results.Entry) error) error {
	return s.st.ForEach(ctx, func(j store.Job) error {
		e := results.NewEntry(j)
		e.Estimate(j, s.est)
		return fn(e)
	})
}

var _ results.Exporter = storeEntries{}

// indexMarker is a Checkpoint that can mark a file derived from it and tell
// later whether anything was written since (*store.Store).
type indexMarker interface {
	SetMark(ctx context.Context, key, value string) error
	Mark(ctx context.Context, key string) (value string, unchanged bool, err error)
}

func indexMarkKey(path string) string { return "index " + filepath.Base(path) }

// indexUpToDate reports whether the index at path was written from the
// store as it is now and is still there with the size it was written with.
func indexUpToDate(ctx context.Context, marks indexMarker, path string) bool {
	size, unchanged, err := marks.Mark(ctx, indexMarkKey(path))
	if err != nil || !unchanged {
		return false
	}
	// Lstat: a link planted at the index's name is not the index written.
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode().IsRegular() && strconv.FormatInt(fi.Size(), 10) == size
}
