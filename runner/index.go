package runner

import (
	"context"
	"path/filepath"

	"github.com/pikabatch/pikabatch/runner/results"
)

// writeIndex brings <out>/results.jsonl (or the shard's) up to date with
// the store: results owns the index, and rewrites it only when the store
// changed since (results.Refresh).
func (r *Runner) writeIndex(ctx context.Context) error {
	name := r.cfg.IndexName
	if name == "" {
		name = results.IndexFile
	}
	marks, _ := r.store.(results.Marker)
	src := results.StoreEntries{Jobs: r.store, Est: r.cfg.EstimateCost}
	return results.Refresh(ctx, filepath.Join(r.cfg.OutDir, name), src, marks)
}
