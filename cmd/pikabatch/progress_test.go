package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vbauerster/mpb/v8"

	"github.com/pikabatch/pikabatch/runner/account"
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
	assert.Contains(t, stderr, "pikabatch: progress 3/3 rows finished: 3 done · 0 failed · 0 cancelled · 0 in flight · 0 held · 0 not submitted · this run 3 submitted, 3 downloaded")
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
	sum := account.Figures{Rows: 10, Final: map[store.State]int{}}
	run := &live.Run{Rows: 10, Calls: func() api.Calls { return api.Calls{Retries: 2, RateLimited: 1} },
		Snapshot: func() account.Figures {
			mu.Lock()
			defer mu.Unlock()
			return sum
		}}
	stop := startBar(&out, logs, run, mpb.ForceTTY())
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
	assert.Contains(t, s, "10/10 done")
	assert.True(t, strings.HasSuffix(s, "after the bar\n"), "logs go straight to stderr once the bar is gone")
}

// Every frame keeps its bar, done/total, the rate and
// the ETA within the width, with retries as a count.
func TestBarFitsTheWidth(t *testing.T) {
	for _, width := range []int{80, 120} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			t.Parallel()
			var out syncBuffer
			run := &live.Run{Rows: 1000,
				Calls: func() api.Calls { return api.Calls{Retries: 12, RateLimited: 3} },
				Snapshot: func() account.Figures {
					return account.Figures{Rows: 400, DownloadRetries: 2, Uncertain: 1,
						Final: map[store.State]int{store.StateDone: 250, store.StateFailed: 3}}
				}}
			refresh := make(chan any)
			stop := startBar(&out, newLogSink(&out), run, mpb.WithWidth(width), mpb.WithManualRefresh(refresh))
			for range 3 {
				refresh <- struct{}{} // taken by the render loop: a frame
			}
			stop()
			var frames []string
			for line := range strings.Lines(out.String()) {
				if line = strings.TrimRight(line, "\n"); line != "" {
					frames = append(frames, line)
				}
			}
			require.GreaterOrEqual(t, len(frames), 3, "%q", out.String())
			bar := regexp.MustCompile(`\[[=>-]{8,}\]`)
			for _, f := range frames {
				assert.LessOrEqual(t, utf8.RuneCountInString(f), width, "%q", f)
				assert.True(t, strings.HasPrefix(f, "250/1000 done "), "done/total first: %q", f)
				assert.Regexp(t, bar, f)
				assert.Contains(t, f, "–/min ETA –", "rate and ETA, unknown yet")
				assert.Contains(t, f, "3 failed")
				assert.Contains(t, f, "14 retries", "API and download retries, one count")
			}
		})
	}
}

func TestBarFigures(t *testing.T) {
	t.Parallel()
	i := live.RunInfo{Rows: 100, Finished: 42, Done: 40, InProgress: 8, PerMinute: 12.5, ETA: 61400 * time.Millisecond,
		Calls: api.Calls{Retries: 3}, ThisRun: account.Figures{Account: account.Ledger{Rows: 100, Done: 40, Failed: 2, InFlight: 8, NotSubmitted: 50}}}
	assert.Equal(t, "12.5/min ETA 1m1s · 2 failed · 3 retries · 8 in flight", barFigures(i, 200))
	assert.Equal(t, "12.5/min ETA 1m1s · 2 failed", barFigures(i, 59), "what fits beside the bar")
	assert.Equal(t, "12.5/min ETA 1m1s", barFigures(i, 30), "rate and ETA whatever the width")
}

// Retries are a count in the progress and the summary,
// each one logged at debug level, not a WARN line apiece.
func TestRetriesLogAtDebug(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 3, Faults: sim.Faults{Rate5xx: 0.3, RateTruncate: 0.5}})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	env := tokenEnv(srv.APIURL)
	code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out"))
	require.Equal(t, exitOK, code, stderr)
	require.Positive(t, srv.Counters().ServerErrors+srv.Counters().DownloadsTruncated, "faults met")
	assert.NotContains(t, stderr, "retrying api request")
	assert.NotContains(t, stderr, "download interrupted; retrying")
	assert.Regexp(t, `retries [1-9]`, stdout+stderr, "counted")

	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out2"), "--log-level", "debug")
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `level=DEBUG msg="(retrying api request|download interrupted; retrying)"`, stderr)
}
