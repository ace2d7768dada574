package report

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/atomicfile"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/reasons"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// FileName is the report's name in the output folder.
const FileName = "report.html"

// Source lists a batch's jobs. live.Source implements it (a live run
// through its control socket, or the state file itself), as does
// *live.Batch: the report reads what `pikabatch export` reads.
type Source interface {
	// Export calls fn with the index entry of every job, in key order,
	// and returns fn's first error unwrapped.
	Export(ctx context.Context, fn func(results.Entry) error) error
}

// Options say where a report is and what it was made from.
type Options struct {
	// Dir is the batch's output folder. The report is written there, and
	// each video is named by its path relative to it (the state records
	// files relative to the output folder), so the page finds them from
	// disk and still does after the folder is moved whole.
	Dir string
	// StateFiles are the state files read, shown in the page's header.
	StateFiles []string
	// Live says a run was going on in one of them: the page says it is a
	// snapshot.
	Live bool
	// Now is the clock for the page's "generated" line; default time.Now.
	Now func() time.Time
	// Account is the batch's account (the sum of its state files'), as
	// status tells it: the page shows it as it is, so that the report and
	// status give one answer.
	Account account.Ledger
}

// Summary is what a report counted; the page shows it at the top, and the
// command prints a line of it.
type Summary struct {
	Dir         string    `json:"dir"`
	StateFiles  []string  `json:"state_files"`
	GeneratedAt time.Time `json:"generated_at"`
	Live        bool      `json:"live"` // a run was going on
	// Jobs counts the jobs of the state files (rows never planned are not
	// in them); States counts them by state, in life order, leaving out
	// the states no job is in.
	Jobs   int          `json:"jobs"`
	States []StateCount `json:"states"`
	// Clips are the videos the page shows: files the state records that
	// are in Dir. MissingFiles are files it records that are not (deleted,
	// replaced by a link, or named outside Dir): shown as missing.
	Clips        int `json:"clips"`
	MissingFiles int `json:"missing_files"`
	// Submits counts submits sent, re-sends of uncertain ones included:
	// what the API may have charged for.
	Submits int `json:"submits"`
	// SpendUSD is the cost of the PricedJobs jobs whose cost the state
	// records (see jobCost); with no job priced, the page shows submits
	// alone.
	SpendUSD   float64 `json:"spend_usd"`
	PricedJobs int     `json:"priced_jobs"`
	// Failed counts the failed, timed-out, expired and cancelled jobs;
	// Failures groups them by message, most frequent first.
	Failed   int            `json:"failed"`
	Failures []FailureGroup `json:"failures"`
	// Account is Options.Account; AccountText and SpendText are it as
	// every surface prints it, shown by the page as they are (empty
	// without an account).
	Account     account.Ledger `json:"account"`
	AccountText string         `json:"account_text,omitempty"`
	SpendText   string         `json:"spend_text,omitempty"`
}

// StateCount is how many jobs are in one state.
type StateCount struct {
	State store.State `json:"state"`
	Count int         `json:"count"`
}

// FailureGroup is the jobs that ended with one message, as reasons.Normalize
// reads it. The page lists the keys of its jobs: each job's row carries
// the group's ID (the report holds no list of keys, so its memory does not
// grow with the failures).
type FailureGroup struct {
	ID      int    `json:"id"`
	Message string `json:"message"`
	Count   int    `json:"count"`
}

// jobCost is the one place the report learns what a job cost: the cost
// the API reported with its result (store.Job.CostUSD). A job without one
// (submitted before costs were recorded, or the API did not say) is
// unknown, not free: the page counts the jobs priced beside the total, and
// shows the submits sent either way.
func jobCost(e results.Entry) (usd float64, ok bool) {
	return money.Reported(e.CostUSD)
}

// WriteFile writes the report of srcs to Options.Dir/FileName atomically
// (a reader sees the old report or the new one) and returns its summary.
// A report that cannot be written fails with results.ErrOutput.
func WriteFile(ctx context.Context, opts Options, srcs ...Source) (Summary, error) {
	path := filepath.Join(opts.Dir, FileName)
	var (
		sum  Summary
		werr error
	)
	err := atomicfile.Write(path, results.Perm, func(w io.Writer) error {
		bw := bufio.NewWriterSize(outputWriter{w}, 64<<10)
		if sum, werr = Write(ctx, bw, opts, srcs...); werr != nil {
			return werr
		}
		werr = bw.Flush()
		return werr
	})
	switch {
	case werr != nil:
		return sum, fmt.Errorf("write %s: %w", path, werr)
	case err != nil:
		// Typed, so that the command exits "cannot create" (73).
		return sum, fmt.Errorf("write %s: %w: %w", path, results.ErrOutput, err)
	}
	return sum, nil
}

// outputWriter marks its write errors as results.ErrOutput: a disk that
// fills up while the report is written is the machine's problem (exit
// 73), not the batch's.
type outputWriter struct{ w io.Writer }

func (o outputWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil {
		err = fmt.Errorf("%w: %w", results.ErrOutput, err)
	}
	return n, err
}

// Write writes the report of srcs to w: the page, with the jobs as JSON
// in its data block, each written as it is read.
func Write(ctx context.Context, w io.Writer, opts Options, srcs ...Source) (Summary, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	b := builder{dir: opts.Dir, byState: map[store.State]int{}, groups: map[string]*FailureGroup{}}
	b.sum.Dir = opts.Dir
	b.sum.StateFiles = append([]string{}, opts.StateFiles...)
	b.sum.GeneratedAt = now().UTC().Truncate(time.Second)
	b.sum.Live = opts.Live
	b.sum.Account = opts.Account
	if opts.Account.Rows > 0 {
		b.sum.AccountText = opts.Account.String()
		b.sum.SpendText = opts.Account.Spend.String()
	}

	enc := json.NewEncoder(w)
	// The data block ends at the first "</script" (or starts a comment at
	// "<!--"): with '<', '>' and '&' written as \u003c, \u003e and \u0026,
	// as encoding/json does by default, no value can hold either.
	enc.SetEscapeHTML(true)
	if _, err := io.WriteString(w, page.head); err != nil {
		return b.sum, err
	}
	if _, err := io.WriteString(w, `{"rows":[`); err != nil {
		return b.sum, err
	}
	for _, src := range srcs {
		err := src.Export(ctx, func(e results.Entry) error {
			if b.sum.Jobs > 0 {
				if _, err := io.WriteString(w, ","); err != nil {
					return err
				}
			}
			return enc.Encode(b.add(e))
		})
		if err != nil {
			return b.sum, err
		}
	}
	b.finish()
	if _, err := io.WriteString(w, `],"summary":`); err != nil {
		return b.sum, err
	}
	if err := enc.Encode(b.sum); err != nil {
		return b.sum, err
	}
	if _, err := io.WriteString(w, "}"+page.tail); err != nil {
		return b.sum, err
	}
	return b.sum, nil
}

// row is one job in the page's data. Text is shown with its terminal
// controls escaped (visible, as an export shows them).
type row struct {
	Key        string      `json:"key"`
	State      store.State `json:"state"`
	Prompt     string      `json:"prompt,omitempty"`
	Seed       string      `json:"seed,omitempty"`
	Duration   string      `json:"duration,omitempty"`
	Resolution string      `json:"resolution,omitempty"`
	Videos     []video     `json:"videos,omitempty"`
	Error      string      `json:"error,omitempty"`
	// Failure is the ID of the job's FailureGroup; 0 for none.
	Failure  int      `json:"failure,omitempty"`
	Attempts int      `json:"attempts"`
	CostUSD  *float64 `json:"cost_usd,omitempty"`
	Orphan   bool     `json:"orphan,omitempty"`
}

// video is one file of a job. Src, the file's relative URL, is set only
// when the file is in the output folder.
type video struct {
	Path string `json:"path"`
	Src  string `json:"src,omitempty"`
}

// builder turns entries into rows and counts them.
type builder struct {
	dir     string
	sum     Summary
	byState map[store.State]int
	groups  map[string]*FailureGroup
	row     row // reused: rows are encoded one at a time
	cost    float64
}

func (b *builder) add(e results.Entry) *row {
	p := readParams(e.Input)
	r := &b.row
	*r = row{Key: results.EscapeControls(e.Key), State: e.State, Prompt: results.EscapeControls(p.prompt()), Seed: results.EscapeControls(p.text(p.Seed)),
		Duration: results.EscapeControls(p.duration()), Resolution: results.EscapeControls(p.text(p.Resolution)),
		Error: results.EscapeControls(e.Error), Attempts: e.Attempts, Orphan: e.Orphan, Videos: r.Videos[:0]}
	for _, f := range e.Files {
		v := video{Path: results.EscapeControls(f.Path)}
		if src, ok := b.src(f.Path); ok {
			v.Src = src
			b.sum.Clips++
		} else {
			b.sum.MissingFiles++
		}
		r.Videos = append(r.Videos, v)
	}
	if usd, ok := jobCost(e); ok {
		r.CostUSD = &usd
		b.cost += usd
		b.sum.PricedJobs++
	}
	b.sum.Jobs++
	b.sum.Submits += e.Attempts
	b.byState[e.State]++
	switch e.State {
	case store.StateFailed, store.StateTimedOut, store.StateExpired, store.StateCancelled:
		b.sum.Failed++
		r.Failure = b.failure(e)
	}
	return r
}

// failure counts e's failure and returns its group's ID. As live's status
// does, messages count apart up to reasons.Counted of them, the rest under
// reasons.Other: a million distinct messages keep the report bounded.
func (b *builder) failure(e results.Entry) int {
	msg := e.Error
	if msg == "" {
		msg = string(e.State)
	}
	msg = reasons.Normalize(msg)
	g := b.groups[msg]
	if g == nil && len(b.groups) >= reasons.Counted {
		msg = reasons.Other
		g = b.groups[msg]
	}
	if g == nil {
		g = &FailureGroup{ID: len(b.groups) + 1, Message: results.EscapeControls(msg)}
		b.groups[msg] = g
	}
	g.Count++
	return g.ID
}

func (b *builder) finish() {
	for _, st := range store.AllStates() {
		if n := b.byState[st]; n > 0 {
			b.sum.States = append(b.sum.States, StateCount{State: st, Count: n})
		}
	}
	// The store refuses an unknown state; a job in one would still count.
	var unknown []StateCount
	for st, n := range b.byState {
		if !st.IsValid() {
			unknown = append(unknown, StateCount{State: st, Count: n})
		}
	}
	slices.SortFunc(unknown, func(a, b StateCount) int { return strings.Compare(string(a.State), string(b.State)) })
	b.sum.States = append(b.sum.States, unknown...)
	counts := make(map[string]int, len(b.groups))
	for m, g := range b.groups {
		counts[m] = g.Count
	}
	b.sum.Failures = []FailureGroup{}
	for _, m := range reasons.Rank(counts) {
		b.sum.Failures = append(b.sum.Failures, *b.groups[m])
	}
	// Micro-dollars, as the run's summary rounds: no float noise on show.
	b.sum.SpendUSD = math.Round(b.cost*1e6) / 1e6
}

// src returns the relative URL of a file the state names relative to the
// output folder, and whether it is a regular file there. A name that leaves
// the folder (absolute, or with ".."), a link (whatever it points at is not
// the file that was downloaded; verify treats it alike) and a missing file
// get none.
func (b *builder) src(path string) (string, bool) {
	if !filepath.IsLocal(filepath.FromSlash(path)) {
		return "", false
	}
	fi, err := os.Lstat(filepath.Join(b.dir, filepath.FromSlash(path)))
	if err != nil || fi.Mode().Type() != 0 {
		return "", false
	}
	parts := strings.Split(filepath.ToSlash(path), "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	// "./" keeps a name such as "a:b.mp4" a path, not a URL scheme.
	return "./" + strings.Join(parts, "/"), true
}

// params are the submit body's fields the page shows. They are kept raw
// and shown as text whatever their JSON type, so that another model's body
// (a string seed, a "prompt" field) shows too.
type params struct {
	PromptText json.RawMessage `json:"promptText"`
	Prompt     json.RawMessage `json:"prompt"`
	Seed       json.RawMessage `json:"seed"`
	Duration   json.RawMessage `json:"duration"`
	Resolution json.RawMessage `json:"resolution"`
}

func readParams(input json.RawMessage) params {
	var p params
	if len(input) > 0 {
		// The input is the submit body pikabatch itself wrote; one that
		// doesn't parse still gets its card, without parameters.
		_ = json.Unmarshal(input, &p)
	}
	return p
}

func (p params) prompt() string {
	if s := p.text(p.PromptText); s != "" {
		return s
	}
	return p.text(p.Prompt)
}

// duration is the clip's length: in seconds when the body gives a number.
func (p params) duration() string {
	if raw := p.Duration; len(raw) > 0 && (raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9') {
		return string(raw) + "s"
	}
	return p.text(p.Duration)
}

// text is a JSON value as the page shows it: a string's text, anything
// else as written.
func (p params) text(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}
