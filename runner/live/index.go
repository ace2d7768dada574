package live

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gocarina/gocsv"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/atomicfile"
	"github.com/pikabatch/pikabatch/runner/results"
)

// Format is an export format.
type Format string

// Export formats.
const (
	JSONL Format = "jsonl" // one results.Entry per line, as results.jsonl
	CSV   Format = "csv"   // one row per job, columns as CSVColumns
)

// ParseFormat checks an export format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case JSONL, CSV:
		return f, nil
	case "ndjson":
		return JSONL, nil
	}
	return "", fmt.Errorf("unknown export format %q (csv or jsonl)", s)
}

// CSVColumns are the columns of a CSV export: the key, the manifest
// parameters, the job's outcome and timings, and "true" in orphan for a
// job no row of the last manifest claims. A job with several result
// files lists them in file, size and sha256, separated by ";". They are
// the csv tags of csvRow, in order, as gocsv writes them in the header.
var CSVColumns = csvHeader()

// csvRow is one job in a CSV export; gocsv writes its fields in order, each
// under its tag. Text goes through csvText, which neutralises terminal
// escapes.
type csvRow struct {
	Key            csvText `csv:"key"`
	Line           csvText `csv:"line"`
	Image          csvText `csv:"image"`
	PromptText     csvText `csv:"promptText"`
	NegativePrompt csvText `csv:"negativePrompt"`
	Seed           csvText `csv:"seed"`
	Resolution     csvText `csv:"resolution"`
	Duration       csvText `csv:"duration"`
	State          csvText `csv:"state"`
	RequestID      csvText `csv:"request_id"`
	File           csvText `csv:"file"`
	Size           csvText `csv:"size"`
	SHA256         csvText `csv:"sha256"`
	Attempts       int     `csv:"attempts"`
	Polls          int     `csv:"polls"`
	SubmittedAt    csvText `csv:"submitted_at"`
	FinishedAt     csvText `csv:"finished_at"`
	DownloadedAt   csvText `csv:"downloaded_at"`
	RenderSeconds  csvText `csv:"render_seconds"`
	Error          csvText `csv:"error"`
	Orphan         csvText `csv:"orphan"`
	CostUSD        csvText `csv:"cost_usd"` // as the API reported it; empty: unknown
}

// csvText is a CSV export value. It is written with the control
// characters that drive a terminal escaped (see escapeControls): an
// export to stdout must not retitle or clear the user's terminal.
type csvText string

// MarshalCSV implements gocsv.TypeMarshaller.
func (t csvText) MarshalCSV() (string, error) { return escapeControls(string(t)), nil }

var _ gocsv.TypeMarshaller = csvText("")

// csvHeader returns the header gocsv writes for csvRow.
func csvHeader() []string {
	var h headerWriter
	if err := gocsv.MarshalCSV([]csvRow{}, &h); err != nil {
		panic("live: csv header: " + err.Error()) // csvRow is a struct with tags: cannot happen
	}
	return h.header
}

// headerWriter is a gocsv.CSVWriter that keeps the first record, the
// header.
type headerWriter struct{ header []string }

func (h *headerWriter) Write(rec []string) error {
	if h.header == nil {
		h.header = slices.Clone(rec)
	}
	return nil
}
func (h *headerWriter) Flush()       {}
func (h *headerWriter) Error() error { return nil }

// IndexWriter writes index entries in one format.
type IndexWriter interface {
	Write(e results.Entry) error
	// Flush writes what is buffered and reports any earlier write error.
	Flush() error
}

// NewIndexWriter returns a writer of f to w. A CSV writer writes its header
// first, so an empty export is a header alone.
func NewIndexWriter(w io.Writer, f Format) (IndexWriter, error) {
	switch f {
	case JSONL:
		bw := bufio.NewWriter(w)
		return &jsonlWriter{bw: bw}, nil
	case CSV:
		// gocsv flushes the csv.Writer after each call; bw keeps that a
		// copy in memory rather than a write(2) per row.
		bw := bufio.NewWriter(w)
		cw := csv.NewWriter(bw)
		// For no rows gocsv writes the header alone.
		if err := gocsv.MarshalCSV([]csvRow{}, cw); err != nil {
			return nil, err
		}
		return &csvWriter{bw: bw, cw: cw}, nil
	}
	return nil, fmt.Errorf("unknown export format %q", f)
}

type jsonlWriter struct {
	bw  *bufio.Writer
	buf []byte // one encoded line
}

func (w *jsonlWriter) Write(e results.Entry) error {
	var err error
	if w.buf, err = results.AppendLine(w.buf[:0], e); err != nil {
		return err
	}
	_, err = w.bw.Write(w.buf)
	return err
}
func (w *jsonlWriter) Flush() error { return w.bw.Flush() }

// escapeControls writes the control characters of s that drive a
// terminal (C0 but tab, line feed and carriage return, which CSV quotes;
// DEL; C1) as Go-style escapes (\x1b, \u009b): visible, not dropped.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, isTerminalControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !isTerminalControl(r):
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func isTerminalControl(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r <= 0x9f)
}

// csvWriter writes each entry as a csvRow with gocsv. Entries are
// marshalled one at a time, not collected, so that an export of a million
// jobs holds one row in memory.
type csvWriter struct {
	bw  *bufio.Writer
	cw  *csv.Writer
	row [1]csvRow // gocsv's input; reused
}

func (w *csvWriter) Write(e results.Entry) error {
	var in manifest.Input
	if len(e.Input) > 0 {
		// The input is the submit body pikabatch itself wrote; a record
		// that doesn't parse still gets its row, without parameters.
		_ = json.Unmarshal(e.Input, &in)
	}
	var files, sizes, sums []string
	for _, f := range e.Files {
		files = append(files, f.Path)
		sizes = append(sizes, strconv.FormatInt(f.Size, 10))
		sums = append(sums, f.SHA256)
	}
	r := csvRow{
		Key:            csvText(e.Key),
		Image:          csvText(in.Image),
		PromptText:     csvText(in.PromptText),
		NegativePrompt: csvText(in.NegativePrompt),
		Resolution:     csvText(in.Resolution),
		State:          csvText(e.State),
		RequestID:      csvText(e.RequestID),
		File:           csvText(strings.Join(files, ";")),
		Size:           csvText(strings.Join(sizes, ";")),
		SHA256:         csvText(strings.Join(sums, ";")),
		Attempts:       e.Attempts,
		Polls:          e.Polls,
		SubmittedAt:    csvTime(e.SubmittedAt),
		FinishedAt:     csvTime(e.FinishedAt),
		DownloadedAt:   csvTime(e.DownloadedAt),
		Error:          csvText(e.Error),
	}
	if e.Line > 0 {
		r.Line = csvText(strconv.Itoa(e.Line))
	}
	if e.CostUSD != nil {
		r.CostUSD = csvText(strconv.FormatFloat(*e.CostUSD, 'f', -1, 64))
	}
	if in.Seed != nil {
		r.Seed = csvText(strconv.FormatInt(*in.Seed, 10))
	}
	if in.Duration > 0 {
		r.Duration = csvText(strconv.Itoa(in.Duration))
	}
	if !e.SubmittedAt.IsZero() && e.FinishedAt.After(e.SubmittedAt) {
		r.RenderSeconds = csvText(strconv.FormatFloat(e.FinishedAt.Sub(e.SubmittedAt).Seconds(), 'f', 1, 64))
	}
	if e.Orphan {
		r.Orphan = "true"
	}
	w.row[0] = r
	return gocsv.MarshalCSVWithoutHeaders(&w.row, w.cw)
}

func (w *csvWriter) Flush() error {
	w.cw.Flush()
	if err := w.cw.Error(); err != nil {
		return err
	}
	return w.bw.Flush()
}

func csvTime(t time.Time) csvText {
	if t.IsZero() {
		return ""
	}
	return csvText(t.UTC().Format(time.RFC3339))
}

// Exporter is anything that can list a batch's index entries: a Batch, a
// Client, a Source.
type Exporter interface {
	Export(ctx context.Context, fn func(results.Entry) error) error
}

// WriteIndexFile writes the entries of every source, in order, to path in
// format f, atomically: a temporary file in the same folder, fsynced and
// renamed over path, so a reader sees the old index or the new one. It
// returns the number of entries written.
func WriteIndexFile(ctx context.Context, path string, f Format, sources ...Exporter) (int, error) {
	var (
		n    int
		werr error
	)
	err := atomicfile.Write(path, results.Perm, func(w io.Writer) error {
		n, werr = WriteIndex(ctx, w, f, sources...)
		return werr
	})
	switch {
	case werr != nil:
		return n, fmt.Errorf("write %s: %w", path, werr)
	case err != nil:
		// Typed, so that the command exits "cannot create" (73), not
		// "some rows failed".
		return n, fmt.Errorf("write %s: %w: %w", path, results.ErrOutput, err)
	}
	return n, nil
}

// WriteIndex writes the entries of every source, in order, to w in format f.
func WriteIndex(ctx context.Context, w io.Writer, f Format, sources ...Exporter) (int, error) {
	iw, err := NewIndexWriter(w, f)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, src := range sources {
		if err := src.Export(ctx, func(e results.Entry) error {
			n++
			return iw.Write(e)
		}); err != nil {
			return n, err
		}
	}
	return n, iw.Flush()
}
