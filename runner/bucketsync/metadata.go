package bucketsync

import (
	"context"
	"io"
	"path/filepath"
	"strings"

	"github.com/pikabatch/pikabatch/runner/results"
)

// MetadataName is the dataset metadata file that goes with the results
// index named index: metadata.jsonl for results.jsonl, and for a shard's
// results-K-of-N.jsonl, metadata-K-of-N.jsonl, so that shards copying
// to one prefix never overwrite each other's (`export --from PREFIX
// --format hf` merges them into one metadata.jsonl).
func MetadataName(index string) string {
	if rest, ok := strings.CutPrefix(index, strings.TrimSuffix(results.IndexFile, ".jsonl")); ok {
		return strings.TrimSuffix(results.HFMetadataFile, ".jsonl") + rest
	}
	return strings.TrimSuffix(index, filepath.Ext(index)) + "-" + results.HFMetadataFile
}

// WriteMetadata writes the dataset metadata of src's done jobs to name in
// dir, in the Hugging Face folder layout, atomically; it returns the lines
// written.
func WriteMetadata(ctx context.Context, dir, name string, src results.Exporter) (int, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	var lines int
	err = results.WriteFile(filepath.Join(dir, name), func(w io.Writer) error {
		hw := results.NewHFWriter(w, abs, abs)
		if err := src.Export(ctx, hw.Write); err != nil {
			return err
		}
		lines = hw.Lines()
		return hw.Flush()
	})
	return lines, err
}
