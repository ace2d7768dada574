package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

// Four shards run at once into one folder against one simulator (the
// scale-shards benchmark, in small):
// every row is submitted once, and status and export over the folder
// merge the four state files.
func TestFourShardsAtOnce(t *testing.T) {
	srv := startSim(t, sim.Config{Slots: 64, RunTime: time.Millisecond})
	dir := t.TempDir()
	const rows = 200
	var b strings.Builder
	b.WriteString("id,image,seed\n")
	for i := range rows {
		fmt.Fprintf(&b, "clip-%03d,https://img.example.com/%d.jpg,%d\n", i, i, i)
	}
	m := writeFile(t, filepath.Join(dir, "m.csv"), b.String())
	out := filepath.Join(dir, "out")
	for k, v := range tokenEnv(srv.APIURL) {
		t.Setenv(k, v)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "")

	type result struct {
		err    error
		stdout string
	}
	results := make([]result, 4)
	var wg sync.WaitGroup
	for k := range results {
		wg.Go(func() {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), []string{"run", "--manifest", m, "--out", out, "--shard", fmt.Sprintf("%d/4", k),
				"--concurrency", "16", "--rps", "0", "--json", "-q"}, &stdout, &stderr)
			results[k] = result{err: err, stdout: stdout.String()}
		})
	}
	wg.Wait()
	total := 0
	for k, r := range results {
		require.NoError(t, r.err, "shard %d/4", k)
		var sum struct {
			Rows  int            `json:"rows"`
			Final map[string]int `json:"final"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
		assert.Equal(t, sum.Rows, sum.Final["done"], "shard %d/4", k)
		total += sum.Rows
	}
	assert.Equal(t, rows, total, "every row in exactly one shard")
	c := srv.Counters()
	assert.EqualValues(t, rows, c.Submits)
	assert.Zero(t, c.DuplicateSubmits)

	env := tokenEnv(srv.APIURL)
	code, stdout, stderr := invoke(t, env, "export", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	keys := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e struct {
			Key   string `json:"key"`
			State string `json:"state"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &e))
		assert.Equal(t, "done", e.State, e.Key)
		keys[e.Key] = true
	}
	assert.Len(t, keys, rows, "merged export rows == manifest rows, each once")

	code, stdout, _ = invoke(t, env, "status", "--out", out, "--json")
	require.Equal(t, exitOK, code)
	var rep statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Len(t, rep.Batches, 4)
	assert.Equal(t, rows, rep.ByState[store.StateDone])
}
