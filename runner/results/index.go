package results

import (
	"bufio"
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
)

// Format is an export format.
type Format string

// Export formats.
const (
	JSONL Format = "jsonl" // one Entry per line, as results.jsonl
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

// CSVColumns are the columns of a CSV export of a pika/pika-2-2 batch
// (CSVColumnsFor of the built-in schema's fields): the key, the line, the
// model's input fields, the job's outcome and timings, and "true" in
// orphan for a job no row of the last manifest claims. A job with several
// result files lists them in file, size and sha256, separated by ";".
var CSVColumns = CSVColumnsFor(CSVLayout{})

// CSVLayout says which columns of a CSV export depend on the batch. The
// zero CSVLayout, given to WriteIndex, means "find out from the
// entries" (DiscoverLayout).
type CSVLayout struct {
	// Fields are the model's input fields; nil means
	// pika/pika-2-2/image-to-video's.
	Fields []string
	// Kept are the manifest's kept columns (Entry.Columns), last,
	// so that the other columns keep their positions.
	Kept []string
}

// CSVColumnsFor returns the columns of a CSV export laid out as l: key and
// line, one column per input field, the csv tags of csvRow after line, in
// order, as gocsv writes them, then the kept columns.
func CSVColumnsFor(l CSVLayout) []string {
	h := csvHeader()
	return slices.Concat(h[:2], paramColumns(l.Fields), h[2:], l.Kept)
}

// OwnColumns are the columns of a CSV export that pikabatch fills itself
// whatever the model (key, line, state, request_id, file...): a kept
// manifest column of one of these names would shadow it for a reader of
// the export, so the manifest refuses one (manifest.Config.Reserved).
func OwnColumns() []string { return CSVColumnsFor(CSVLayout{Fields: []string{}}) }

// paramColumns are the export's columns of the model's input fields.
func paramColumns(fields []string) []string {
	if fields == nil {
		return manifest.PikaSchema().Fields()
	}
	return fields
}

// csvRow is one job in a CSV export, but for the model's input fields,
// which depend on the model and go between Line and State; gocsv writes
// its fields in order, each under its tag. Text goes through csvText,
// which neutralises terminal escapes and spreadsheet formulas.
type csvRow struct {
	Key           csvText `csv:"key"`
	Line          csvText `csv:"line"`
	State         csvText `csv:"state"`
	RequestID     csvText `csv:"request_id"`
	File          csvText `csv:"file"`
	Size          csvText `csv:"size"`
	SHA256        csvText `csv:"sha256"`
	Attempts      int     `csv:"attempts"`
	Polls         int     `csv:"polls"`
	SubmittedAt   csvText `csv:"submitted_at"`
	FinishedAt    csvText `csv:"finished_at"`
	DownloadedAt  csvText `csv:"downloaded_at"`
	RenderSeconds csvText `csv:"render_seconds"`
	Error         csvText `csv:"error"`
	Orphan        csvText `csv:"orphan"`
	CostUSD       csvText `csv:"cost_usd"` // as the API reported it; empty: unknown
	// CostEstimatedUSD is the estimate of a sent job without a reported
	// cost (Entry.CostEstimatedUSD); never in the same row as
	// CostUSD.
	CostEstimatedUSD csvText `csv:"cost_estimated_usd"`
}

// csvText is a CSV export value. It is written with the control
// characters that drive a terminal escaped (an export to stdout must not
// retitle or clear the user's terminal) and a formula quoted (a
// spreadsheet must not run it): see CSVCell.
type csvText string

// MarshalCSV implements gocsv.TypeMarshaller.
func (t csvText) MarshalCSV() (string, error) { return CSVCell(string(t)), nil }

var _ gocsv.TypeMarshaller = csvText("")

// csvHeader returns the header gocsv writes for csvRow.
func csvHeader() []string {
	var h headerWriter
	if err := gocsv.MarshalCSV([]csvRow{}, &h); err != nil {
		panic("results: csv header: " + err.Error()) // csvRow is a struct with tags: cannot happen
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

// indexWriter writes index entries in one format.
type indexWriter interface {
	Write(e Entry) error
	// Flush writes what is buffered and reports any earlier write error.
	Flush() error
}

// newIndexWriter returns a writer of f to w, a CSV export laid out as l.
// A CSV writer writes its header first, so an empty export is a header
// alone.
func newIndexWriter(w io.Writer, f Format, l CSVLayout) (indexWriter, error) {
	switch f {
	case JSONL:
		bw := bufio.NewWriter(w)
		return &jsonlWriter{bw: bw}, nil
	case CSV:
		// gocsv flushes the csv.Writer after each call; bw keeps that a
		// copy in memory rather than a write(2) per row.
		bw := bufio.NewWriter(w)
		cw := csv.NewWriter(bw)
		header := CSVColumnsFor(l)
		for i, h := range header {
			header[i] = CSVCell(h) // kept columns are named by the manifest
		}
		if err := cw.Write(header); err != nil {
			return nil, err
		}
		fields := paramColumns(l.Fields)
		col := make(map[string]int, len(fields))
		for i, f := range fields {
			col[f] = i
		}
		return &csvWriter{bw: bw, cw: cw, fields: fields, col: col, kept: l.Kept}, nil
	}
	return nil, fmt.Errorf("unknown export format %q", f)
}

type jsonlWriter struct {
	bw  *bufio.Writer
	buf []byte // one encoded line
}

func (w *jsonlWriter) Write(e Entry) error {
	var err error
	if w.buf, err = AppendLine(w.buf[:0], e); err != nil {
		return err
	}
	_, err = w.bw.Write(w.buf)
	return err
}
func (w *jsonlWriter) Flush() error { return w.bw.Flush() }

// csvWriter writes each entry as a csvRow with gocsv. Entries are
// marshalled one at a time, not collected, so that an export of a million
// jobs holds one row in memory.
type csvWriter struct {
	bw     *bufio.Writer
	cw     *csv.Writer
	fields []string
	col    map[string]int // field → its index in fields
	kept   []string
	row    [1]csvRow // gocsv's input; reused
	rec    recordWriter
}

// recordWriter is a gocsv.CSVWriter that keeps the one record gocsv
// marshals, so that the model's fields can be put into it.
type recordWriter struct{ rec []string }

func (r *recordWriter) Write(rec []string) error { r.rec = append(r.rec[:0], rec...); return nil }
func (r *recordWriter) Flush()                   {}
func (r *recordWriter) Error() error             { return nil }

func (w *csvWriter) Write(e Entry) error {
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
		Key:          csvText(e.Key),
		State:        csvText(e.State),
		RequestID:    csvText(e.RequestID),
		File:         csvText(strings.Join(files, ";")),
		Size:         csvText(strings.Join(sizes, ";")),
		SHA256:       csvText(strings.Join(sums, ";")),
		Attempts:     e.Attempts,
		Polls:        e.Polls,
		SubmittedAt:  csvTime(e.SubmittedAt),
		FinishedAt:   csvTime(e.FinishedAt),
		DownloadedAt: csvTime(e.DownloadedAt),
		Error:        csvText(e.Error),
	}
	if e.Line > 0 {
		r.Line = csvText(strconv.Itoa(e.Line))
	}
	if e.CostUSD != nil {
		r.CostUSD = csvText(strconv.FormatFloat(*e.CostUSD, 'f', -1, 64))
	}
	if e.CostEstimatedUSD != nil {
		r.CostEstimatedUSD = csvText(strconv.FormatFloat(*e.CostEstimatedUSD, 'f', -1, 64))
	}
	if !e.SubmittedAt.IsZero() && e.FinishedAt.After(e.SubmittedAt) {
		r.RenderSeconds = csvText(strconv.FormatFloat(e.FinishedAt.Sub(e.SubmittedAt).Seconds(), 'f', 1, 64))
	}
	if e.Orphan {
		r.Orphan = "true"
	}
	w.row[0] = r
	if err := gocsv.MarshalCSVWithoutHeaders(&w.row, &w.rec); err != nil {
		return err
	}
	// The model's fields go after key and line, as the header has them.
	// One pass over the set fields, each to its column: a wide schema's
	// row costs its size, not its size squared.
	rec := slices.Grow(w.rec.rec[:2:2], len(w.fields)+len(w.rec.rec)-2)
	for range w.fields {
		rec = append(rec, "")
	}
	in.EachText(func(name, text string) {
		if i, ok := w.col[name]; ok {
			rec[2+i] = CSVCell(text)
		}
	})
	rec = append(rec, w.rec.rec[2:]...)
	if len(w.kept) > 0 {
		rec = appendKept(rec, w.kept, e.Columns)
	}
	return w.cw.Write(rec)
}

func (w *csvWriter) Flush() error {
	w.cw.Flush()
	if err := w.cw.Error(); err != nil {
		return err
	}
	return w.bw.Flush()
}

// appendKept appends the kept columns' cells: a string as is, any other
// JSON value as JSON, "" when the job has no such column.
func appendKept(rec []string, names []string, columns json.RawMessage) []string {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(columns, &m) // written by pikabatch; a record without it gets empty cells
	for _, n := range names {
		v, ok := m[n]
		var s string
		if ok && json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		rec = append(rec, CSVCell(s))
	}
	return rec
}

func csvTime(t time.Time) csvText {
	if t.IsZero() {
		return ""
	}
	return csvText(t.UTC().Format(time.RFC3339))
}
