package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// liveRun is a `pikabatch run` going on in the background of a test.
type liveRun struct {
	out    string
	socket string
	cancel context.CancelFunc
	done   chan error
	stdout bytes.Buffer
}

// testOptions are run flags for a test against srv.
func testOptions(srv *sim.Running, manifestPath, out string) batchOptions {
	return batchOptions{cfg: batch.Config{Manifest: manifestPath, Format: "auto", Out: out, Model: defaultModel,
		APIBase: srv.APIURL, Token: api.Token(testToken), Concurrency: 8, DownloadConcurrency: 4, RPS: 0,
		MaxResends: 1, MaxFileSize: 1 << 30,
		Poll: runner.PollConfig{Initial: 5 * time.Millisecond, Min: 2 * time.Millisecond, Max: 20 * time.Millisecond}},
		logFormat: "text", logLevel: "warn"}
}

// startLiveRun starts a run of o and returns once its control socket
// listens and submitted jobs have been recorded.
func startLiveRun(t *testing.T, o batchOptions, submitted int) *liveRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lr := &liveRun{out: o.cfg.Out, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	allIn := make(chan struct{})
	var n atomic.Int64
	o.cfg.OnLive = func(p string) { ready <- p }
	o.cfg.Hooks.Submitted = func(string, string) {
		if n.Add(1) == int64(submitted) {
			close(allIn)
		}
	}
	var stderr bytes.Buffer
	go func() { lr.done <- runBatch(ctx, o, &lr.stdout, &stderr) }()
	t.Cleanup(func() { lr.stop(t) })
	select {
	case lr.socket = <-ready:
	case err := <-lr.done:
		t.Fatalf("run ended before it was live: %v\n%s", err, stderr.String())
	}
	select {
	case <-allIn:
	case err := <-lr.done:
		t.Fatalf("run ended early: %v\n%s", err, stderr.String())
	}
	return lr
}

// stop interrupts the run and waits for it.
func (lr *liveRun) stop(t *testing.T) error {
	t.Helper()
	lr.cancel()
	err, ok := <-lr.done
	if ok {
		close(lr.done)
	}
	return err
}

// slowSim is an account that runs one job at a time, forever: the first job
// is running, the others stay queued, and a run stays live until stopped.
func slowSim(t *testing.T) *sim.Running {
	return startSim(t, sim.Config{Slots: 1, RunTime: time.Hour})
}

const threeRows = "id,image,promptText,seed\n" +
	"a,https://img.example.com/a.jpg,waves,1\n" +
	"b,https://img.example.com/b.jpg,wind,2\n" +
	"c,https://img.example.com/c.jpg,\"rain, slow\",3\n"

func TestExport(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	base := tokenEnv(srv.APIURL)
	code, _, stderr := invoke(t, base, "run", "--manifest", m, "--out", out, "--results-format", "csv")
	require.Equal(t, exitOK, code, stderr)

	recs := readCSV(t, filepath.Join(out, "results.csv"))
	require.Len(t, recs, 4)
	assert.Equal(t, "key", recs[0][0])
	assert.Equal(t, []string{"a", "b", "c"}, []string{recs[1][0], recs[2][0], recs[3][0]})
	assert.Equal(t, "rain, slow", recs[3][3])
	assert.FileExists(t, filepath.Join(out, "results.jsonl"), "the JSONL index is always written")

	code, stdout, stderr := invoke(t, base, "export", "--out", out, "--format", "csv")
	require.Equal(t, exitOK, code, stderr)
	b, err := os.ReadFile(filepath.Join(out, "results.csv"))
	require.NoError(t, err)
	assert.Equal(t, string(b), stdout, "export and the run's own index agree")

	code, stdout, _ = invoke(t, base, "export", "--state", filepath.Join(out, ".pikabatch.db"))
	require.Equal(t, exitOK, code)
	assert.Len(t, strings.Split(strings.TrimSpace(stdout), "\n"), 3)
	assert.Contains(t, stdout, `"state":"done"`)

	file := filepath.Join(dir, "index.csv")
	code, _, stderr = invoke(t, base, "export", "--out", out, "-o", file)
	require.Equal(t, exitOK, code, stderr)
	assert.Len(t, readCSV(t, file), 4, "format from the extension")

	code, _, stderr = invoke(t, base, "export", "--out", out, "-o", filepath.Join(dir, "no-such-folder", "index.csv"))
	assert.Equal(t, exitCantCreate, code, "an index that cannot be written is 73, not \"rows failed\": %s", stderr)

	code, _, _ = invoke(t, base, "export", "--out", filepath.Join(dir, "nothing-here"))
	assert.Equal(t, exitUsage, code)
	code, _, _ = invoke(t, base, "export", "--out", out, "--format", "xml")
	assert.Equal(t, exitUsage, code)
}

func TestExportWhileLive(t *testing.T) {
	srv := slowSim(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	lr := startLiveRun(t, testOptions(srv, m, filepath.Join(dir, "out")), 3)

	code, stdout, stderr := invoke(t, nil, "export", "--out", lr.out, "--format", "csv")
	require.Equal(t, exitOK, code, stderr)
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 4)
	for _, r := range recs[1:] {
		assert.NotEmpty(t, r[9], "request ID of %s", r[0])
	}
	require.True(t, errors.Is(lr.stop(t), context.Canceled))
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	return recs
}
