package progress

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vbauerster/mpb/v8"
	"go.uber.org/goleak"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestResolveMode(t *testing.T) {
	var buf bytes.Buffer
	for _, tt := range []struct {
		mode  string
		quiet bool
		want  string
	}{
		{"auto", false, Plain}, {"auto", true, Off}, {"", false, Plain},
		{"bar", false, Bar}, {"off", false, Off}, {"plain", true, Plain},
	} {
		got, err := ResolveMode(tt.mode, tt.quiet, &buf)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "%s quiet=%v", tt.mode, tt.quiet)
	}
	_, err := ResolveMode("fancy", false, &buf)
	assert.ErrorIs(t, err, ErrBadMode)
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
	logs := NewLogSink(&out)
	var mu sync.Mutex
	sum := account.Figures{Rows: 10, Final: map[store.State]int{}}
	run := &live.Run{Rows: 10, Calls: func() api.Calls { return api.Calls{Retries: 2, RateLimited: 1} },
		Snapshot: func() account.Figures {
			mu.Lock()
			defer mu.Unlock()
			return sum
		}}
	stop := StartBar(&out, logs, run, mpb.ForceTTY())
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
			stop := StartBar(&out, NewLogSink(&out), run, mpb.WithWidth(width), mpb.WithManualRefresh(refresh))
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

// TestBarTellsCancelledRows: jobs cancelled on the API are counted apart
// from the failed ones beside the bar too.
func TestBarTellsCancelledRows(t *testing.T) {
	t.Parallel()
	s := account.Figures{Rows: 10, Failed: 6, Cancelled: 1,
		Final: map[store.State]int{store.StateDone: 3, store.StateFailed: 5, store.StateTimedOut: 1, store.StateCancelled: 1}}
	r := &live.Run{Rows: 10, Snapshot: func() account.Figures { return s }}
	i := r.Info(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC))
	assert.Contains(t, barFigures(i, 200), "6 failed · 1 cancelled")
}
