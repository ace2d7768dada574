package live

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/atomicfile"
)

// Format is an export format.
type Format string

// Export formats.
const (
	JSONL Format = "jsonl" // one runner.IndexEntry per line, as results.jsonl
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
// files lists them in file, size and sha256, separated by ";".
var CSVColumns = []string{
	"key", "line", "image", "promptText", "negativePrompt", "seed", "resolution", "duration",
	"state", "request_id", "file", "size", "sha256", "attempts", "polls",
	"submitted_at", "finished_at", "downloaded_at", "render_seconds", "error", "orphan",
}

// IndexWriter writes index entries in one format.
type IndexWriter interface {
	Write(e runner.IndexEntry) error
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
		cw := csv.NewWriter(w)
		if err := cw.Write(CSVColumns); err != nil {
			return nil, err
		}
		return &csvWriter{cw: cw}, nil
	}
	return nil, fmt.Errorf("unknown export format %q", f)
}

type jsonlWriter struct {
	bw  *bufio.Writer
	buf []byte // one encoded line
}

func (w *jsonlWriter) Write(e runner.IndexEntry) error {
	var err error
	if w.buf, err = runner.AppendIndexLine(w.buf[:0], e); err != nil {
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

type csvWriter struct {
	cw  *csv.Writer
	rec []string
}

func (w *csvWriter) Write(e runner.IndexEntry) error {
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
	seed := ""
	if in.Seed != nil {
		seed = strconv.FormatInt(*in.Seed, 10)
	}
	line, duration, render, orphan := "", "", "", ""
	if e.Orphan {
		orphan = "true"
	}
	if e.Line > 0 {
		line = strconv.Itoa(e.Line)
	}
	if in.Duration > 0 {
		duration = strconv.Itoa(in.Duration)
	}
	if !e.SubmittedAt.IsZero() && e.FinishedAt.After(e.SubmittedAt) {
		render = strconv.FormatFloat(e.FinishedAt.Sub(e.SubmittedAt).Seconds(), 'f', 1, 64)
	}
	w.rec = append(w.rec[:0],
		e.Key, line, in.Image, in.PromptText, in.NegativePrompt, seed, in.Resolution, duration,
		string(e.State), e.RequestID, strings.Join(files, ";"), strings.Join(sizes, ";"), strings.Join(sums, ";"),
		strconv.Itoa(e.Attempts), strconv.Itoa(e.Polls),
		csvTime(e.SubmittedAt), csvTime(e.FinishedAt), csvTime(e.DownloadedAt), render, e.Error, orphan)
	for i, v := range w.rec {
		w.rec[i] = escapeControls(v)
	}
	return w.cw.Write(w.rec)
}

func (w *csvWriter) Flush() error {
	w.cw.Flush()
	return w.cw.Error()
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Exporter is anything that can list a batch's index entries: a Batch, a
// Client, a Source.
type Exporter interface {
	Export(ctx context.Context, fn func(runner.IndexEntry) error) error
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
	err := atomicfile.Write(path, runner.IndexPerm, func(w io.Writer) error {
		n, werr = WriteIndex(ctx, w, f, sources...)
		return werr
	})
	switch {
	case werr != nil:
		return n, fmt.Errorf("write %s: %w", path, werr)
	case err != nil:
		// Typed, so that the command exits "cannot create" (73), not
		// "some rows failed".
		return n, fmt.Errorf("write %s: %w: %w", path, runner.ErrOutput, err)
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
		if err := src.Export(ctx, func(e runner.IndexEntry) error {
			n++
			return iw.Write(e)
		}); err != nil {
			return n, err
		}
	}
	return n, iw.Flush()
}
