package results_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/results"
)

// TestFormatFor: a named format wins whatever its case; without one the
// file's extension chooses, else JSONL; an unknown name lists them all.
func TestFormatFor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, path, want string }{
		{"", "-", "jsonl"}, {"", "a.CSV", "csv"}, {"", "a.parquet", "parquet"}, {"", "a.txt", "jsonl"},
		{"HF", "-", "hf"}, {"ndjson", "a.csv", "jsonl"}, {"csv", "a.parquet", "csv"},
	} {
		f, err := results.FormatFor(tt.name, tt.path)
		require.NoError(t, err, tt)
		assert.Equal(t, results.Format(tt.want), f, tt)
	}
	_, err := results.FormatFor("XML", "-")
	require.EqualError(t, err, `unknown export format "xml" (csv or jsonl), hf or parquet`)
}

// TestExportTellsWhatItWrote: Export writes each format where it is told
// and says what it wrote in the words of the sources it read; a stream
// says nothing, and an hf export without a file lands in the batch folder.
func TestExportTellsWhatItWrote(t *testing.T) {
	t.Parallel()
	ctx, dir := context.Background(), t.TempDir()
	src := exportFunc(func(fn func(results.Entry) error) error {
		for _, e := range datasetEntries() {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
	export := func(c results.ExportConfig) string {
		line, err := results.Export(ctx, c, src)
		require.NoError(t, err)
		return line
	}
	var out bytes.Buffer
	assert.Empty(t, export(results.ExportConfig{Format: results.JSONL, Path: "-", To: &out}))
	assert.Equal(t, 4, strings.Count(out.String(), "\n"))

	csv := filepath.Join(dir, "i.csv")
	assert.Equal(t, "exported 4 jobs from 1 state file to "+csv, export(results.ExportConfig{Format: results.CSV, Path: csv}))
	assert.Equal(t, "exported 4 jobs from 1 index to "+csv, export(results.ExportConfig{Format: results.CSV, Path: csv, Remote: true}))

	pq := filepath.Join(dir, "i.parquet")
	assert.Equal(t, "exported 4 jobs from 1 index(es) to "+pq+" (Parquet)",
		export(results.ExportConfig{Format: results.Parquet, Path: pq, Remote: true}))

	meta := filepath.Join(dir, results.HFMetadataFile)
	assert.Equal(t, "3 files of done jobs listed in "+meta+" (Hugging Face folder layout)",
		export(results.ExportConfig{Format: results.HF, Path: "-", Folder: dir}))
	raw, err := os.ReadFile(meta)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(raw), `{"file_name":"city.mp4",`), string(raw))

	// From a bucket: the files are named relative to where the metadata
	// goes, the copy of the prefix.
	remote := filepath.Join(dir, "prefix", results.HFMetadataFile)
	require.NoError(t, os.Mkdir(filepath.Dir(remote), 0o755))
	export(results.ExportConfig{Format: results.HF, Path: remote, Remote: true})
	raw, err = os.ReadFile(remote)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(raw), `{"file_name":"city.mp4",`), string(raw))
}
