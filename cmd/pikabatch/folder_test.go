package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// shardRows writes a manifest of n rows with ids.
func shardRows(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,image,seed\n")
	for i := range n {
		fmt.Fprintf(&b, "clip-%02d,https://img.example.com/%d.jpg,%d\n", i, i, i)
	}
	return writeFile(t, filepath.Join(dir, "m.csv"), b.String())
}

// TestSplitsStartedTogetherDoNotBothRun: --shard 0/2 and --shard 0/3
// started at the same moment both ran (3 of 20 rows paid twice): each
// checked the folder for the other's state file before either had created
// one. The second here starts in exactly that window, after the first
// checked its split and before it opened its state file, and is refused.
func TestSplitsStartedTogetherDoNotBothRun(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := shardRows(t, dir, 20)
	out := filepath.Join(dir, "out")
	o := testOptions(srv, m, out)
	o.cfg.Shard = "0/2"
	var second struct {
		code           int
		stdout, stderr string
	}
	o.cfg.OnSplitClaimed = func() {
		second.code, second.stdout, second.stderr = invoke(t, tokenEnv(srv.APIURL),
			"run", "--manifest", m, "--out", out, "--shard", "0/3", "--progress", "off")
	}
	var stdout, stderr bytes.Buffer
	require.NoError(t, runBatch(t.Context(), o, &stdout, &stderr), stderr.String())

	assert.Equal(t, exitUsage, second.code, "%s%s", second.stdout, second.stderr)
	assert.Contains(t, second.stderr, "another split")
	assert.Contains(t, second.stderr, store.FolderRecordName)
	assert.NoFileExists(t, filepath.Join(out, ".pikabatch-0-of-3.db"))
	owned := 0
	for i := range 20 {
		if (shard.Spec{K: 0, N: 2}).Owns(fmt.Sprintf("clip-%02d", i)) {
			owned++
		}
	}
	assert.EqualValues(t, owned, srv.Counters().Submits, "only the first split's rows were sent")
	assert.Zero(t, srv.Counters().DuplicateSubmits)
}

// TestSplitRecordedOnce: the split is recorded in the folder at the
// first run; shards of that split go on, another split is refused even
// once the state files are gone from the folder.
func TestSplitRecordedOnce(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := shardRows(t, dir, 6)
	out := filepath.Join(dir, "out")
	env := tokenEnv(srv.APIURL)
	for k := range 2 {
		code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--shard", fmt.Sprintf("%d/2", k), "--progress", "off")
		require.Equal(t, exitOK, code, stderr)
	}
	require.FileExists(t, filepath.Join(out, store.FolderRecordName))
	for k := range 2 {
		require.NoError(t, os.Remove(filepath.Join(out, fmt.Sprintf(".pikabatch-%d-of-2.db", k))))
	}
	code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--shard", "0/3", "--progress", "off", "--fresh")
	assert.Equal(t, exitUsage, code, stderr)
	code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--shard", "0/3", "--dry-run")
	assert.Equal(t, exitUsage, code, "the preview refuses what the run would: %s%s", stdout, stderr)
	assert.EqualValues(t, 6, srv.Counters().Submits)
}

// TestShardsShareTheFolderSchema: a catalog that changed between the
// starts of shard 0/2 and 1/2 gave each its own schema, so rows changed
// shards: some paid twice, some never rendered, both shards "done". The
// first shard's schema is recorded in the folder, and the second keys its
// rows with it.
func TestShardsShareTheFolderSchema(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 5})
	var serve, retype atomic.Bool
	serve.Store(true)
	base := catalogProxy(t, srv, &serve, func(body string) string {
		if !retype.Load() {
			return body
		}
		return strings.ReplaceAll(body, `"seed":{"type":"integer"`, `"seed":{"type":"string"`)
	})
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("prompt,seed\n")
	for i := range 41 {
		fmt.Fprintf(&b, "clip %d,%d\n", i, 100+i)
	}
	m := writeFile(t, filepath.Join(dir, "m.csv"), b.String())
	out := filepath.Join(dir, "out")
	env := tokenEnv(base)
	sent, previewRows := 0, 0
	for k := range 2 {
		if k == 1 {
			retype.Store(true)
			code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--model", sim.TextToVideoModel,
				"--shard", "1/2", "--dry-run")
			require.Equal(t, exitOK, code, stderr)
			_, err := fmt.Sscanf(stdout, "dry run: nothing sent. %d rows", &previewRows)
			require.NoError(t, err, stdout)
		}
		code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--model", sim.TextToVideoModel,
			"--shard", fmt.Sprintf("%d/2", k), "--progress", "off")
		require.Equal(t, exitOK, code, stderr)
		var rows, done int
		_, err := fmt.Sscanf(stdout, "\nrows %d: %d done", &rows, &done)
		require.NoError(t, err, stdout)
		assert.Equal(t, rows, done, stdout)
		sent += rows
		if k == 1 {
			assert.Contains(t, stderr, "the recorded one is kept")
			assert.Equal(t, rows, previewRows, "the preview keys rows as the run does")
		}
	}
	assert.Equal(t, 41, sent, "every row in exactly one shard")
	assert.EqualValues(t, 41, srv.Counters().Submits, "no row paid twice")
	assert.Zero(t, srv.Counters().DuplicateSubmits)
}
