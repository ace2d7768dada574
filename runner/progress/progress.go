// Package progress shows a running batch's progress on stderr: a bar
// drawn with mpb on a terminal, or a plain line every interval for cron,
// CI and pipes, and, while a bar is drawn, the log lines above it rather
// than through it.
package progress

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/pikabatch/pikabatch/runner/live"
)

// Progress modes.
const (
	Auto  = "auto"  // a bar on a terminal, plain lines elsewhere
	Bar   = "bar"   // a bar, even when the writer is not a terminal
	Plain = "plain" // a plain line every interval
	Off   = "off"
)

// ErrBadMode is returned by ResolveMode for a mode that is none of Auto,
// Bar, Plain and Off.
var ErrBadMode = errors.New("progress must be auto, bar, plain or off")

// Source is where the figures shown come from: a live run.
type Source interface {
	// Info returns the run's progress at now. It is called from the
	// display's own goroutine, so it must be safe for concurrent use.
	Info(now time.Time) live.RunInfo
}

// barRefresh is how often the bar's figures are read.
const barRefresh = 500 * time.Millisecond

// LogSink is the writer the logger writes to: stderr, or, while a progress
// bar is drawn, the bar's container, which prints log lines above the bar
// so that neither garbles the other. It writes one log line at a time.
type LogSink struct {
	mu       sync.Mutex
	w        io.Writer
	fallback io.Writer // stderr, when the bar's container has gone
}

// NewLogSink returns a sink writing to w.
func NewLogSink(w io.Writer) *LogSink { return &LogSink{w: w, fallback: w} }

// SinkOf is the log sink writing to w: w itself when it is one (main's
// stderr, which the signal notices go through too, so that they print
// above a progress bar as the logs do), else a new one.
func SinkOf(w io.Writer) *LogSink {
	if s, ok := w.(*LogSink); ok {
		return s
	}
	return NewLogSink(w)
}

// Fallback is the writer under the sink: where a bar is drawn, and where
// the logs go when none is.
func (s *LogSink) Fallback() io.Writer { return s.fallback }

// Write writes one log line above the bar, if one is drawn.
func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.w.Write(p)
	if err != nil && s.w != s.fallback {
		return s.fallback.Write(p)
	}
	return n, err
}

func (s *LogSink) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

// IsTerminal reports whether w, or the writer under a LogSink, is a
// terminal.
func IsTerminal(w io.Writer) bool {
	if s, ok := w.(*LogSink); ok {
		w = s.fallback
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ResolveMode resolves mode for the writer the progress goes to: Auto
// (or "") is Off when quiet, a Bar on a terminal and Plain elsewhere.
func ResolveMode(mode string, quiet bool, w io.Writer) (string, error) {
	switch mode {
	case Auto, "":
		if quiet {
			return Off, nil
		}
		if IsTerminal(w) {
			return Bar, nil
		}
		return Plain, nil
	case Bar, Plain, Off:
		return mode, nil
	}
	return "", fmt.Errorf("%w, not %q", ErrBadMode, mode)
}

// Line is one run's figures in a line, in the words of the
// batch's account (account.Ledger) as the summary and status use them.
func Line(i live.RunInfo) string {
	a := i.ThisRun.Account
	parts := []string{
		fmt.Sprintf("%d done", a.Done),
		fmt.Sprintf("%d failed", a.Failed),
		fmt.Sprintf("%d cancelled", a.Cancelled),
		fmt.Sprintf("%d in flight", a.InFlight),
		fmt.Sprintf("%d held", a.Held),
		fmt.Sprintf("%d not submitted", a.NotSubmitted),
		fmt.Sprintf("this run %d submitted, %d downloaded", i.ThisRun.Submitted, i.ThisRun.Downloaded),
	}
	if i.PerMinute > 0 {
		p := fmt.Sprintf("%.1f jobs/min", i.PerMinute)
		if i.ETA > 0 {
			p += ", ETA " + i.ETA.String()
		}
		parts = append(parts, p)
	}
	if i.ThisRun.Uncertain > 0 {
		parts = append(parts, fmt.Sprintf("%d uncertain", i.ThisRun.Uncertain))
	}
	// One count for the retries of API calls and downloads alike: each is
	// logged at debug level only.
	parts = append(parts, fmt.Sprintf("retries %d, 429s %d", i.Calls.Retries+int64(i.ThisRun.DownloadRetries), i.Calls.RateLimited))
	return strings.Join(parts, " · ")
}

// Start shows the progress of run on w in mode until the returned stop is
// called (stop waits until the display is gone and logs go to w again).
//
// jsonLog is the run's logger when its logs are JSON (nil otherwise): plain
// progress then goes through it as "progress" records, so that a log file
// stays one JSON object per line.
func Start(mode string, interval time.Duration, w io.Writer, logs *LogSink, run Source, jsonLog *slog.Logger) (stop func()) {
	switch mode {
	case Bar:
		return StartBar(w, logs, run)
	case Plain:
		return startPlain(w, logs, run, interval, jsonLog)
	}
	return func() {}
}

// startPlain writes a plain progress line every interval, and one at the
// end: no control characters, for cron, CI and `| tee`.
func startPlain(w io.Writer, logs *LogSink, run Source, interval time.Duration, jsonLog *slog.Logger) func() {
	line := func() {
		i := run.Info(time.Now())
		if jsonLog != nil {
			a := i.ThisRun.Account
			jsonLog.Info("progress", "rows", i.Rows, "finished", i.Finished, "done", a.Done,
				"failed", a.Failed, "cancelled", a.Cancelled, "in_flight", a.InFlight, "held", a.Held,
				"not_submitted", a.NotSubmitted,
				"submitted", i.ThisRun.Submitted, "downloaded", i.ThisRun.Downloaded,
				"uncertain", i.ThisRun.Uncertain, "jobs_per_minute", i.PerMinute, "eta_seconds", i.ETA.Seconds(),
				"retries", i.Calls.Retries, "rate_limited", i.Calls.RateLimited)
			return
		}
		fmt.Fprintf(logs, "pikabatch: progress %d/%d rows finished: %s\n", i.Finished, i.Rows, Line(i))
	}
	return every(interval, line, line)
}

// StartBar draws a progress bar with mpb until the returned stop is
// called. opts are added to the container's (tests: a width, manual
// refresh, ForceTTY).
func StartBar(w io.Writer, logs *LogSink, run Source, opts ...mpb.ContainerOption) func() {
	// Auto refresh even off a terminal (--progress bar): log lines written
	// through the container only reach w when it renders. No width: a
	// terminal's is used, else mpb's 80 columns.
	opts = append([]mpb.ContainerOption{mpb.WithOutput(w), mpb.WithRefreshRate(150 * time.Millisecond), mpb.WithAutoRefresh()}, opts...)
	p := mpb.New(opts...)
	var info atomic.Pointer[live.RunInfo]
	first := run.Info(time.Now())
	info.Store(&first)
	bar := p.AddBar(int64(max(first.Rows, 1)),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return barCount(*info.Load()) })),
		// Decorators are drawn before the bar, each told the width left:
		// the figures take what the bar leaves them, so the bar stays.
		mpb.AppendDecorators(decor.Any(func(st decor.Statistics) string { return barFigures(*info.Load(), st.AvailableWidth) })),
		mpb.BarWidth(barWidth),
	)
	update := func() {
		i := run.Info(time.Now())
		info.Store(&i)
		bar.SetCurrent(int64(i.Finished))
	}
	bar.SetCurrent(int64(first.Finished))
	logs.set(p)

	return every(barRefresh, update, func() {
		update()
		if !bar.Completed() {
			bar.Abort(false) // keep the last figures on screen
		}
		logs.set(w)
		p.Wait()
	})
}

// barCount is what the bar's line starts with: rows done of the run's.
func barCount(i live.RunInfo) string {
	return fmt.Sprintf("%d/%d done", i.Done, i.Rows)
}

// barWidth is the bar's, fixed so that it does not jump as the figures
// change; barSpare is the blanks around it and a last column left free,
// which some terminals wrap on.
const (
	barWidth = 24
	barSpare = 3
)

// barFigures is the text after the bar, at most width minus the bar's
// share: the rate and ETA always, then what else fits, most telling first.
// Retries are a count here; each is logged at debug level only.
func barFigures(i live.RunInfo, width int) string {
	budget := width - barWidth - barSpare
	rate, eta := "–/min", "ETA –"
	if i.PerMinute > 0 {
		rate = fmt.Sprintf("%.1f/min", i.PerMinute)
		if i.ETA > 0 {
			eta = "ETA " + i.ETA.Round(time.Second).String()
		}
	}
	s := rate + " " + eta
	var more []string
	a := i.ThisRun.Account
	if a.Failed > 0 {
		more = append(more, fmt.Sprintf("%d failed", a.Failed))
	}
	if a.Cancelled > 0 {
		more = append(more, fmt.Sprintf("%d cancelled", a.Cancelled))
	}
	if n := i.Calls.Retries + int64(i.ThisRun.DownloadRetries); n > 0 {
		word := "retries"
		if n == 1 {
			word = "retry"
		}
		more = append(more, fmt.Sprintf("%d %s", n, word))
	}
	if i.ThisRun.Uncertain > 0 {
		more = append(more, fmt.Sprintf("%d uncertain", i.ThisRun.Uncertain))
	}
	more = append(more, fmt.Sprintf("%d in flight", a.InFlight))
	for _, m := range more {
		if utf8.RuneCountInString(s)+utf8.RuneCountInString(" · "+m) > budget {
			break
		}
		s += " · " + m
	}
	return s
}

// every calls tick each interval (never, if interval <= 0) until the
// returned stop is called; stop waits for a tick under way, then calls last
// once — so last always sees the final figures and never races a tick.
func every(interval time.Duration, tick, last func()) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if interval <= 0 {
			<-done
			return
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				tick()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-stopped
			last()
		})
	}
}
