package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

func TestShardsSplitAndMerge(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,image,seed\n")
	for i := range 12 {
		fmt.Fprintf(&b, "clip-%02d,https://img.example.com/%d.jpg,%d\n", i, i, i)
	}
	m := writeFile(t, filepath.Join(dir, "m.csv"), b.String())
	out := filepath.Join(dir, "out")
	env := map[string]string{"RUNCOMFY_API_BASE": srv.APIURL, "RUNCOMFY_API_TOKEN": testToken, "RUNCOMFY_API_TOKEN_FILE": "",
		"JOB_COMPLETION_INDEX": ""}

	total := 0
	for k := range 3 {
		args := []string{"run", "--manifest", m, "--out", out, "--shard", fmt.Sprintf("%d/3", k)}
		if k == 2 {
			env["JOB_COMPLETION_INDEX"] = "2" // a pod of an Indexed Job
			args[len(args)-1] = "auto/3"
		}
		code, stdout, stderr := invoke(t, env, args...)
		require.Equal(t, exitOK, code, stderr)
		var rows, done int
		_, err := fmt.Sscanf(stdout, "\nrows %d: %d done", &rows, &done)
		require.NoError(t, err, stdout)
		assert.Equal(t, rows, done)
		total += rows
		assert.FileExists(t, filepath.Join(out, fmt.Sprintf(".pikabatch-%d-of-3.db", k)))
		assert.FileExists(t, filepath.Join(out, fmt.Sprintf("results-%d-of-3.jsonl", k)))
	}
	assert.Equal(t, 12, total, "every row in exactly one shard")
	assert.EqualValues(t, 12, srv.Counters().Submits)
	assert.Zero(t, srv.Counters().DuplicateSubmits)

	code, stdout, stderr := invoke(t, env, "export", "--out", out, "--format", "csv")
	require.Equal(t, exitOK, code, stderr)
	recs := strings.Split(strings.TrimSpace(stdout), "\n")
	assert.Len(t, recs, 13, "header and the 12 rows of the three shards")

	code, stdout, _ = invoke(t, env, "status", "--out", out, "--json")
	require.Equal(t, exitOK, code)
	var rep statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Len(t, rep.Batches, 3)
	assert.Equal(t, 12, rep.ByState[store.StateDone])

	code, _, _ = invoke(t, env, "run", "--manifest", m, "--out", out, "--shard", "3/3")
	assert.Equal(t, exitUsage, code)
	env["JOB_COMPLETION_INDEX"] = ""
	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", out, "--shard", "auto/3")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "JOB_COMPLETION_INDEX")

	// Another split of the same folder would submit every row again.
	before := srv.Counters().Submits
	for _, split := range [][]string{{"--shard", "0/4"}, nil} {
		args := append([]string{"run", "--manifest", m, "--out", out}, split...)
		code, _, stderr = invoke(t, env, args...)
		assert.Equal(t, exitUsage, code, "%v: %s", split, stderr)
		assert.Contains(t, stderr, ".pikabatch-0-of-3.db")
		assert.Contains(t, stderr, "another split")
		code, _, _ = invoke(t, env, append(args, "--dry-run")...)
		assert.Equal(t, exitUsage, code, "a dry run says so too")
	}
	assert.Equal(t, before, srv.Counters().Submits, "nothing submitted")
	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", out, "--shard", "1/3")
	assert.Equal(t, exitOK, code, "the same split resumes: %s", stderr)
	assert.Equal(t, before, srv.Counters().Submits)
}
