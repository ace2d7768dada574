package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	builtin "github.com/pikabatch/pikabatch/examples"
	"github.com/pikabatch/pikabatch/runner/progress"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/runner/sim/demo"
)

// testDemoOptions are the demo's options with a quick simulator and quiet
// logs, rendering into out.
func testDemoOptions(out string) demoOptions {
	o := demoOptions{batch: runDefaults()}
	o.batch.out = out
	o.batch.rps = 0
	o.batch.logLevel = "warn"
	o.batch.progress = progress.Off
	o.sim = sim.Config{Slots: 2, RunTime: 30 * time.Millisecond, VideoSize: 4 << 10, Seed: 1,
		Faults: sim.Faults{RateTruncate: 0.2, RateExpire: 0.1}}
	return o
}

// builtinRows is the number of rows of the built-in manifest.
func builtinRows(t *testing.T) int {
	t.Helper()
	lines := strings.Count(strings.TrimSpace(string(builtin.ManifestCSV)), "\n")
	require.Positive(t, lines)
	return lines
}

// Ctrl-C, then the demo again, from a folder that is not
// the repository's: every row done, each submitted once, exit 0.
func TestDemoResumesAfterInterrupt(t *testing.T) {
	t.Chdir(t.TempDir()) // no examples/ here: the manifest is built in
	rows := builtinRows(t)
	o := testDemoOptions("out")
	var sims []*sim.Running
	o.onSimulator = func(s *sim.Running) { sims = append(sims, s) }
	o.batch.concurrency = 2 // rows are left unread when it stops

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var submitted atomic.Int64
	o.batch.hooks.Submitted = func(string, string) {
		if submitted.Add(1) == 3 {
			cancel() // Ctrl-C with jobs on the simulator and rows never sent
		}
	}
	var stdout, stderr bytes.Buffer
	err := runDemo(ctx, o, &stdout, &stderr)
	require.ErrorIs(t, err, context.Canceled, stderr.String())
	first := stdout.String()
	// The summary counts the whole manifest; the rows
	// never reached are "not submitted".
	l := parseLedger(t, first)
	assert.Equal(t, rows, l.Rows)
	assert.Equal(t, rows, l.Counted(), "every row in one outcome: %s", l)
	assert.Positive(t, l.NotSubmitted, "rows never reached")
	assert.Contains(t, first, "demo: interrupted")
	assert.Contains(t, first, "`pikabatch demo` again collects them")
	assert.Contains(t, first, "pikabatch status --out out\n")
	assert.FileExists(t, filepath.Join("out", demo.SimStateName))
	m, err := os.ReadFile(filepath.Join("out", demo.ManifestName))
	require.NoError(t, err)
	assert.Equal(t, builtin.ManifestCSV, m, "the built-in manifest, for the user to read")

	o.batch.hooks.Submitted = nil // no Ctrl-C this time
	stdout.Reset()
	stderr.Reset()
	require.NoError(t, runDemo(t.Context(), o, &stdout, &stderr), "%s\n%s", stdout.String(), stderr.String())
	second := stdout.String()
	assert.Contains(t, second, "demo: resuming: the simulator still has the")
	assert.Contains(t, second, fmt.Sprintf("rows %d: %d done", rows, rows))
	assert.Contains(t, second, "demo: done")
	assert.Contains(t, second, "pikabatch report --out out\n")
	assert.NotContains(t, stderr.String(), "expired")

	require.Len(t, sims, 2)
	c1, c2 := sims[0].Counters(), sims[1].Counters()
	assert.EqualValues(t, rows, c1.Submits+c2.Submits, "each row submitted once over both demos")
	assert.Zero(t, c1.DuplicateSubmits+c2.DuplicateSubmits)
	assert.Zero(t, c2.NotFound, "the second simulator knew the first one's jobs")
}

// Videos rendered but not downloaded when the demo stopped are fetched by
// the next one at the URLs the state file recorded: its simulator serves
// files on the same address as before.
func TestDemoResumesDownloads(t *testing.T) {
	t.Chdir(t.TempDir())
	rows := builtinRows(t)
	o := testDemoOptions("out")
	o.sim.Slots = rows // every job renders at once
	o.sim.Faults = sim.Faults{}
	o.batch.dlConcurrency = 1 // and waits its turn to download
	var sims []*sim.Running
	o.onSimulator = func(s *sim.Running) { sims = append(sims, s) }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var downloaded atomic.Int64
	o.batch.hooks.Downloaded = func(string) {
		if downloaded.Add(1) == 1 {
			cancel()
		}
	}
	var stdout, stderr bytes.Buffer
	require.ErrorIs(t, runDemo(ctx, o, &stdout, &stderr), context.Canceled, stderr.String())

	o.batch.hooks.Downloaded = nil
	stdout.Reset()
	stderr.Reset()
	require.NoError(t, runDemo(t.Context(), o, &stdout, &stderr), "%s\n%s", stdout.String(), stderr.String())
	require.Len(t, sims, 2)
	assert.Equal(t, sims[0].FilesURL, sims[1].FilesURL, "the same file host")
	c2 := sims[1].Counters()
	assert.Zero(t, c2.Submits)
	assert.EqualValues(t, rows-int(downloaded.Load()), c2.Downloads, "the rest downloaded, each once")
	assert.Contains(t, stdout.String(), "downloads retried 0")
}

// TestDemoFileHostLoopbackOnly: a saved simulator file that names a file
// host on every interface (or any other address off this machine) is not
// obeyed: the demo serves its files on loopback only, and says so.
func TestDemoFileHostLoopbackOnly(t *testing.T) {
	t.Chdir(t.TempDir())
	o := testDemoOptions("out")
	o.sim.Faults = sim.Faults{}
	var sims []*sim.Running
	o.onSimulator = func(s *sim.Running) { sims = append(sims, s) }
	var stdout, stderr bytes.Buffer
	require.NoError(t, runDemo(t.Context(), o, &stdout, &stderr), stderr.String())

	saved := filepath.Join("out", demo.SimStateName)
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0", "localhost.example.com:0"} {
		b, err := os.ReadFile(saved)
		require.NoError(t, err)
		b = regexp.MustCompile(`"files_addr":"[^"]*"`).ReplaceAll(b, []byte(`"files_addr":"`+addr+`"`))
		require.NoError(t, os.WriteFile(saved, b, 0o644))
		stderr.Reset()
		require.NoError(t, runDemo(t.Context(), o, &stdout, &stderr), stderr.String())
		host := strings.TrimPrefix(sims[len(sims)-1].FilesURL, "http://")
		host, _, err = net.SplitHostPort(host)
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", host, "files_addr %q", addr)
		assert.Contains(t, stderr.String(), "loopback", "files_addr %q", addr)
	}
}
