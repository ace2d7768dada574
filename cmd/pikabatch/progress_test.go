package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

func TestPlainProgressOffTerminal(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	env := tokenEnv(srv.APIURL)
	code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out"))
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "pikabatch: progress 3/3 rows finished: 3 done · 0 failed · 0 in progress · 3 submitted · 3 downloaded")
	for _, c := range []string{"\x1b", "\r"} {
		assert.NotContains(t, stderr+stdout, c, "no control characters off a terminal")
	}

	// With JSON logs, progress is a log record too: every stderr line parses.
	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out2"), "--log-format", "json")
	require.Equal(t, exitOK, code, stderr)
	var progress []map[string]any
	for line := range strings.Lines(stderr) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "not JSON: %q", line)
		if rec["msg"] == "progress" {
			progress = append(progress, rec)
		}
	}
	require.NotEmpty(t, progress, "the final progress record")
	last := progress[len(progress)-1]
	assert.EqualValues(t, 3, last["rows"])
	assert.EqualValues(t, 3, last["done"])
	assert.EqualValues(t, 3, last["downloaded"])
}

func TestProgressMode(t *testing.T) {
	var buf bytes.Buffer
	for _, tt := range []struct {
		mode  string
		quiet bool
		want  string
	}{
		{"auto", false, progressPlain}, {"auto", true, progressOff}, {"", false, progressPlain},
		{"bar", false, progressBar}, {"off", false, progressOff}, {"plain", true, progressPlain},
	} {
		got, err := progressMode(tt.mode, tt.quiet, &buf)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "%s quiet=%v", tt.mode, tt.quiet)
	}
	_, err := progressMode("fancy", false, &buf)
	var ue *usageError
	assert.ErrorAs(t, err, &ue)
}

// syncBuffer is a bytes.Buffer safe for the bar's goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestBarKeepsLogLinesWhole(t *testing.T) {
	var out syncBuffer
	logs := newLogSink(&out)
	var mu sync.Mutex
	sum := live.Figures{Rows: 10, Final: map[store.State]int{}}
	run := &live.Run{Rows: 10, Calls: func() api.Calls { return api.Calls{Retries: 2, RateLimited: 1} },
		Snapshot: func() live.Figures {
			mu.Lock()
			defer mu.Unlock()
			return sum
		}}
	stop := startBar(&out, logs, run, true)
	for i := range 10 {
		fmt.Fprintf(logs, "time=now level=INFO msg=downloaded key=clip-%d\n", i)
		mu.Lock()
		sum.Downloaded++
		sum.Final = map[store.State]int{store.StateDone: i + 1}
		mu.Unlock()
	}
	stop()
	stop() // safe twice
	fmt.Fprintln(logs, "after the bar")
	s := out.String()
	for i := range 10 {
		assert.Contains(t, s, fmt.Sprintf("msg=downloaded key=clip-%d\n", i))
	}
	assert.Contains(t, s, "10/10 rows")
	assert.Contains(t, s, "10 done", "the figures, cut to the width")
	assert.True(t, strings.HasSuffix(s, "after the bar\n"), "logs go straight to stderr once the bar is gone")
}
