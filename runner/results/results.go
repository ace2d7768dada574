// Package results owns the results index: the dataset's record of a batch,
// one JSON line per job (results.jsonl in the output folder). It writes the
// index and its exports (JSONL, CSV, a Hugging Face metadata file,
// Parquet) from any Exporter, reads the index back (Scan), and rebuilds a
// state file from it (Recover). The runner writes the index from its store
// at the end of a run, live lists the entries of a state file or of a run
// through its socket, verify checks the files the index lists; each of
// them shares this package's types and line format, and none needs the
// others for it.
//
// An entry holds no secrets: result URLs are left out (pre-signed URLs are
// credentials), and URLs in the input and the error are shown redacted.
package results

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/pikabatch/pikabatch/runner/redact"
	"github.com/pikabatch/pikabatch/store"
)

// IndexFile is the results index written into the output folder.
const IndexFile = "results.jsonl"

// Perm is the mode of the results index and its exports: readable by
// all, as the videos are. They hold no secrets: URLs are redacted.
const Perm = 0o644

// ErrOutput: the output folder cannot be written (permissions, disk full).
// Writing a download, the index or an export fails with it; it stops a run,
// since every later write would fail the same way.
var ErrOutput = errors.New("output folder cannot be written")

// Entry is one line of the results index: the dataset's record of a job.
// Result URLs are left out on purpose: pre-signed URLs are credentials. URLs
// in the input and the error are shown as redact.URLsIn shows them: without
// user information or signatures (the API itself was sent them as given).
type Entry struct {
	Key          string          `json:"key"`
	Line         int             `json:"line,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	State        store.State     `json:"state"`
	RequestID    string          `json:"request_id,omitempty"`
	Files        []FileRef       `json:"files,omitempty"`
	Error        string          `json:"error,omitempty"`
	Attempts     int             `json:"attempts"`
	Polls        int             `json:"polls,omitempty"`
	SubmittedAt  time.Time       `json:"submitted_at,omitzero"`
	FinishedAt   time.Time       `json:"finished_at,omitzero"`
	DownloadedAt time.Time       `json:"downloaded_at,omitzero"`
	Orphan       bool            `json:"orphan,omitempty"`   // no row of the last manifest read whole claims it
	CostUSD      *float64        `json:"cost_usd,omitempty"` // as the API reported it; absent: unknown
	// CostEstimatedUSD is set instead of CostUSD for a sent job the API
	// reported no cost for: the price recorded in the state times its
	// charged submits. An estimate, never a reported figure.
	CostEstimatedUSD *float64        `json:"cost_estimated_usd,omitempty"`
	Columns          json.RawMessage `json:"columns,omitempty"` // the manifest's kept columns (--keep-columns), verbatim
}

// FileRef is one downloaded file.
type FileRef struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// NewEntry turns a job record into its index line.
func NewEntry(j store.Job) Entry {
	e := Entry{Key: j.Key, Line: j.Line, Input: redact.JSONStrings(j.Input), State: j.State, RequestID: j.RequestID,
		Error: redact.URLsIn(j.LastError), Attempts: j.Attempts, Polls: j.Polls,
		SubmittedAt: j.SubmittedAt, FinishedAt: j.FinishedAt, DownloadedAt: j.DownloadedAt}
	e.Orphan = j.Orphan
	e.Columns = redact.JSONStrings(j.Columns)
	e.CostUSD = j.CostUSD
	for _, o := range j.Outputs {
		if o.Path != "" {
			e.Files = append(e.Files, FileRef{Path: o.Path, Size: o.Size, SHA256: o.SHA256})
		}
	}
	return e
}

// Estimator estimates what a job cost (see price.Pricer.Charged); ok is
// false when it cannot say.
type Estimator func(j store.Job) (usd float64, ok bool)

// Estimate sets e's CostEstimatedUSD from est when the API reported no
// cost for the sent job j. A nil est estimates nothing.
func (e *Entry) Estimate(j store.Job, est Estimator) {
	if est == nil || j.CostUSD != nil || j.Attempts <= 0 {
		return
	}
	if usd, ok := est(j); ok {
		usd = math.Round(usd*1e6) / 1e6 // micro-dollars: products of floats carry binary noise
		e.CostEstimatedUSD = &usd
	}
}

// AppendLine appends e to dst as one line of the index: JSON and a line
// feed. Besides the controls encoding/json escapes (U+0000–U+001F), it
// escapes DEL and the C1 controls, so that a line printed to a terminal
// cannot drive it (manifest text is the user's, error text the API's), and
// still decodes to the same text.
func AppendLine(dst []byte, e Entry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return dst, err
	}
	dst = appendEscapedControls(dst, b)
	return append(dst, '\n'), nil
}

// MaxLineBytes is the longest index line Scan reads.
const MaxLineBytes = 64 << 20

// ErrLineTooLong is a LineError's cause for a line longer than
// MaxLineBytes: no entry pikabatch writes is that long.
var ErrLineTooLong = fmt.Errorf("the line is longer than %d bytes", MaxLineBytes)

// LongLinesError is Scan's error for an index whose other lines were all
// read, but for lines longer than MaxLineBytes, skipped: one line past the
// cap must not cost the whole index.
type LongLinesError struct {
	Lines []int // line numbers, from 1
}

func (e *LongLinesError) Error() string {
	return fmt.Sprintf("lines %v are longer than %d bytes; skipped", e.Lines, MaxLineBytes)
}

// Unwrap returns ErrLineTooLong.
func (e *LongLinesError) Unwrap() error { return ErrLineTooLong }

// Scan reads an index, calling fn with each entry and its line number (from
// 1); blank lines are skipped. A line that is not an entry stops it with an
// error naming the line; so does an error from fn. A line longer than
// MaxLineBytes is read through, never held whole, and skipped: Scan goes
// on, and returns a *LongLinesError naming those lines at the end.
func Scan(r io.Reader, fn func(line int, e Entry) error) error {
	return scan(r, MaxLineBytes, fn)
}

// scan is Scan with lines of at most limit bytes.
func scan(r io.Reader, limit int, fn func(line int, e Entry) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []int
	for line := 1; ; line++ {
		b, isLong, err := store.ReadLine(br, limit)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if isLong {
			long = append(long, line)
		} else if len(b) > 0 {
			var e Entry
			if uerr := json.Unmarshal(b, &e); uerr != nil {
				return &LineError{Line: line, Err: uerr}
			}
			if ferr := fn(line, e); ferr != nil {
				return &LineError{Line: line, Err: ferr}
			}
		}
		if err != nil {
			break
		}
	}
	if len(long) > 0 {
		return &LongLinesError{Lines: long}
	}
	return nil
}

// LineError is a problem with one line of an index.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// appendEscapedControls appends the encoded JSON b to out, with DEL and
// the C1 controls (U+0080–U+009F, among them the 8-bit CSI U+009B) written
// as \u escapes. In valid JSON these bytes occur only inside strings, and
// in valid UTF-8 the bytes C2 80–C2 9F are exactly those code points.
func appendEscapedControls(out, b []byte) []byte {
	last := 0
	for i := 0; i < len(b); i++ {
		var r int
		switch {
		case b[i] == 0x7f:
			r = 0x7f
		case b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f:
			r = int(b[i+1])
		default:
			continue
		}
		out = append(out, b[last:i]...)
		out = fmt.Appendf(out, `\u%04x`, r)
		if r != 0x7f {
			i++
		}
		last = i + 1
	}
	return append(out, b[last:]...)
}
