package main

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vbauerster/mpb/v8"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/progress"
	"github.com/pikabatch/pikabatch/store"
)

// frameWriter is a terminal's output: it tells frames, each call that draws
// the bar, on its channel.
type frameWriter struct {
	mu     sync.Mutex
	buf    strings.Builder
	frames chan struct{}
}

func (f *frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.Contains(string(p), " done [") {
		f.frames <- struct{}{}
	}
	return f.buf.Write(p)
}

func (f *frameWriter) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.String()
}

var cursorUp = regexp.MustCompile(`^\x1b\[(\d+)A`)

// screen is what a terminal shows after out: lines, the cursor moved up by
// ESC[nA and everything from it down cleared by ESC[J, as the bar redraws.
func screen(out string) []string {
	lines := []string{""}
	row := 0
	for len(out) > 0 {
		switch m := cursorUp.FindStringSubmatch(out); {
		case m != nil:
			n, _ := strconv.Atoi(m[1])
			row = max(row-n, 0)
			out = out[len(m[0]):]
		case strings.HasPrefix(out, "\x1b[J"):
			lines = append(lines[:row], "")
			out = out[len("\x1b[J"):]
		case out[0] == '\n':
			row++
			if row == len(lines) {
				lines = append(lines, "")
			}
			out = out[1:]
		default:
			lines[row] += out[:1]
			out = out[1:]
		}
	}
	return lines
}

// TestStopNoticeStaysAboveTheBar: the notice of a first Ctrl-C is printed
// above the progress bar, where the bar's next frame leaves it on screen,
// rather than on the bar's line, where that frame wrote over it.
func TestStopNoticeStaysAboveTheBar(t *testing.T) {
	out := &frameWriter{frames: make(chan struct{}, 16)}
	stderr := progress.NewLogSink(out) // as main wraps its stderr
	logs := progress.SinkOf(stderr)    // as a run takes it
	run := &live.Run{Rows: 10, Snapshot: func() account.Figures {
		return account.Figures{Rows: 10, Final: map[store.State]int{store.StateDone: 3}}
	}}
	refresh := make(chan any)
	stop := progress.StartBar(logs.Fallback(), logs, run, mpb.WithWidth(80), mpb.WithManualRefresh(refresh), mpb.ForceTTY())
	refresh <- struct{}{}
	<-out.frames // the bar is on screen

	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	stopSignals := watchSignals(sigs, cancel, stderr, func(int) { t.Error("exit on the first signal") })
	sigs <- os.Interrupt
	<-ctx.Done() // the notice is written
	refresh <- struct{}{}
	<-out.frames // the next frame
	stop()
	stopSignals()

	shown := screen(out.String())
	require.NotEmpty(t, shown)
	notice := "pikabatch: interrupt: stopping; submitted jobs keep running on the API and are collected next run (signal again to exit at once)"
	assert.Contains(t, shown, notice, "on screen after the bar redrew: %q", out.String())
	last := slicesIndex(shown, notice)
	assert.Contains(t, strings.Join(shown[last+1:], "\n"), "3/10 done", "the bar below it")
}

func slicesIndex(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}

// TestJobLinesBesideABar: beside a progress bar, a run logs warnings only
// (a line per job would scroll the bar's notices away) unless -v or
// --log-level asks for more; off a terminal (plain progress, a log file)
// it logs each job as before.
func TestJobLinesBesideABar(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		o    batchOptions
		mode string
		want string
	}{
		{"bar", batchOptions{}, progress.Bar, "warn"},
		{"bar with -v", batchOptions{verbose: true}, progress.Bar, "info"},
		{"bar with --log-level", batchOptions{logLevel: "debug"}, progress.Bar, "debug"},
		{"plain lines", batchOptions{}, progress.Plain, "info"},
		{"no progress", batchOptions{}, progress.Off, "info"},
		{"plain with --log-level", batchOptions{logLevel: "error"}, progress.Plain, "error"},
	} {
		assert.Equal(t, tt.want, logLevel(tt.o, tt.mode), tt.name)
	}
}

// TestSummaryTellsCancelledRows: jobs cancelled on the API are counted
// apart from the failed ones, alike in the summary and the progress.
func TestSummaryTellsCancelledRows(t *testing.T) {
	t.Parallel()
	s := account.Figures{Rows: 10, Failed: 6, Cancelled: 1,
		Final: map[store.State]int{store.StateDone: 3, store.StateFailed: 5, store.StateTimedOut: 1, store.StateCancelled: 1}}
	var b strings.Builder
	printSummary(&b, s, api.Calls{}, false)
	assert.Contains(t, b.String(), "rows 10: 3 done, 6 failed, 1 cancelled, 0 in flight, 0 held, 0 not submitted\n")
	assert.Contains(t, b.String(), "failed 6, cancelled 1")

	r := &live.Run{Rows: 10, Snapshot: func() account.Figures { return s }}
	i := r.Info(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC))
	assert.Contains(t, progress.Line(i), "3 done · 6 failed · 1 cancelled · 0 in flight")
}
