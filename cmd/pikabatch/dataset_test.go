package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// TestExportDatasets: a rendered batch exported as a Hugging Face folder
// dataset (metadata.jsonl beside the videos, each file_name a file that is
// there) and as Parquet (one row per job, the seed an integer column).
func TestExportDatasets(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	base := tokenEnv(srv.APIURL)
	code, _, stderr := invoke(t, base, "run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, stderr)

	code, _, stderr = invoke(t, base, "export", "--out", out, "--format", "hf")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "3 files of done jobs listed in "+filepath.Join(out, "metadata.jsonl"))
	f, err := os.Open(filepath.Join(out, "metadata.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
		name, _ := line["file_name"].(string)
		assert.FileExists(t, filepath.Join(out, name), "file_name is relative to the folder")
		assert.NotEmpty(t, line["request_id"])
		assert.NotNil(t, line["seed"])
		keys = append(keys, line["key"].(string))
	}
	assert.Equal(t, []string{"a", "b", "c"}, keys)

	pq := filepath.Join(dir, "index.parquet")
	code, _, stderr = invoke(t, base, "export", "--out", out, "-o", pq)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "exported 3 jobs from 1 state file(s) to "+pq+" (Parquet)")
	pf, err := os.Open(pq)
	require.NoError(t, err)
	defer pf.Close()
	st, err := pf.Stat()
	require.NoError(t, err)
	file, err := parquet.OpenFile(pf, st.Size())
	require.NoError(t, err)
	assert.EqualValues(t, 3, file.NumRows())
	seed, ok := file.Schema().Lookup("seed")
	require.True(t, ok)
	assert.Equal(t, "INT(64,true)", seed.Node.Type().String())

	code, _, stderr = invoke(t, base, "export", "--out", out, "--format", "parquet")
	assert.Equal(t, exitUsage, code, "Parquet is a file, not a stream: %s", stderr)
	assert.Contains(t, stderr, "give -o FILE")
}
