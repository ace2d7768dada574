package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/probe"
	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/redact"
)

// urlCheck is one row's verdict, for `validate --check-urls --json`.
type urlCheck struct {
	Line  int    `json:"line"`
	Key   string `json:"key"`
	Field string `json:"field,omitempty"` // the file input checked, for models with several
	probe.Result
}

// errBadURLs: some image URLs would fail their jobs (exit 65).
var errBadURLs = errors.New("image URLs failed the check")

// urlTally counts the URLs checked and those that would fail their jobs,
// and the rows they are in: a model with several file inputs has several
// URLs a row.
type urlTally struct {
	checked, bad      int // URLs
	rows, badRows     int
	lastLine, lastBad int  // the line of the last row counted, and of the last bad one
	isSeveralPerRow   bool // the schema has several file inputs
}

// add counts the verdict of one URL of the row at line; verdicts come in
// manifest order.
func (t *urlTally) add(line int, ok bool) {
	t.checked++
	if line != t.lastLine {
		t.rows++
		t.lastLine = line
	}
	if !ok {
		t.bad++
		if line != t.lastBad {
			t.badRows++
			t.lastBad = line
		}
	}
}

// noun is what the URLs are: Pika's (and any one-input model's) image
// URLs, or several file inputs' URLs.
func (t urlTally) noun() string {
	if t.isSeveralPerRow {
		return "file"
	}
	return "image"
}

// line is the tally for people: URLs, and rows when a row has several.
func (t urlTally) line() string {
	if !t.isSeveralPerRow {
		return fmt.Sprintf("image URLs: %d rows checked, %d ok, %d would fail", t.checked, t.checked-t.bad, t.bad)
	}
	s := fmt.Sprintf("file URLs: %d checked in %d rows, %d ok, %d would fail", t.checked, t.rows, t.checked-t.bad, t.bad)
	if t.bad > 0 {
		rows := "rows"
		if t.badRows == 1 {
			rows = "row"
		}
		s += fmt.Sprintf(" (%d %s)", t.badRows, rows)
	}
	return s
}

// checkURLs asks each file host about every file input of every row (the
// schema's file fields: Pika's image) and passes each verdict to emit as it
// comes, in manifest order: nothing is kept, so a manifest of any size is
// checked in bounded memory (probe.Run).
func checkURLs(ctx context.Context, path string, cfg manifest.Config, concurrency int, rps float64, emit func(urlCheck)) (urlTally, error) {
	var t urlTally
	rows, err := manifest.OpenConfig(path, cfg)
	if err != nil {
		return t, manifestError(err)
	}
	defer rows.Close()
	// Bucket URLs are asked of the bucket, with the cloud's credentials.
	bc := bucket.NewClient()
	defer bc.Close()
	c := probe.New(probe.Config{Concurrency: concurrency, RPS: rps, Objects: bc,
		// Image hosts get no token: this client has never seen it.
		HTTPClient: &http.Client{Transport: transport(concurrency)}})
	var readErr error
	fields := rows.Schema().FileFields()
	t.isSeveralPerRow = len(fields) > 1
	var pending []probe.Item[fileInput] // the current row's file inputs not yet handed out
	next := func() (probe.Item[fileInput], bool) {
		for len(pending) == 0 {
			row, err := rows.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				return probe.Item[fileInput]{}, false
			}
			for _, f := range fields {
				if u, ok := row.Input.Lookup(f); ok {
					in := fileInput{row: row}
					if len(fields) > 1 {
						in.field = f
					}
					// Each field is checked for what it takes: a video_url
					// must serve a video.
					pending = append(pending, probe.Item[fileInput]{URL: u.(string), Kind: probe.KindOf(f), Data: in})
				}
			}
		}
		it := pending[0]
		pending = pending[1:]
		return it, true
	}
	err = probe.Run(ctx, c, next, func(it probe.Item[fileInput], res probe.Result) {
		// Shown, not fetched: without credentials or signatures, which a
		// printed report must not leak.
		res.URL = redact.URL(res.URL)
		t.add(it.Data.row.Line, res.OK)
		emit(urlCheck{Line: it.Data.row.Line, Key: it.Data.row.Key, Field: it.Data.field, Result: res})
	})
	if err == nil {
		err = readErr
	}
	if err != nil {
		return t, err
	}
	if t.bad > 0 {
		return t, fmt.Errorf("%d of %d rows: %w", t.badRows, t.rows, errBadURLs)
	}
	return t, nil
}

// fileInput is one file input of a row to check.
type fileInput struct {
	row   manifest.Row
	field string // set when the model has several file inputs
}

// printURLCheck returns an emit for checkURLs that prints one line per row.
func printURLCheck(w io.Writer, path string) func(urlCheck) {
	return func(ch urlCheck) {
		verdict := "ok  "
		detail := ch.ContentType
		if ch.Size >= 0 {
			detail += ", " + humanBytes(ch.Size)
		} else {
			detail += ", size unknown"
		}
		if !ch.OK {
			verdict, detail = "FAIL", ch.Problem
		}
		key := ch.Key
		if ch.Field != "" {
			key += " " + ch.Field
		}
		// The field is named by the schema and the detail by the file's
		// host: both are printed escaped.
		fmt.Fprintf(w, "  %s:%d %-24s %s %s — %s\n", path, ch.Line, manifest.Printable(key), verdict, manifest.Printable(ch.URL), manifest.Printable(detail))
	}
}

// urlsJSON writes `validate --check-urls --json` as it goes: the
// summary's fields and a "urls" array, one element per row as it is
// checked, byte for byte what writeJSON prints for the summary with a
// []urlCheckJSON field "urls" ([] when no row was checked).
type urlsJSON struct {
	w io.Writer
	n int
}

// newURLsJSON writes everything before the first row's verdict.
func newURLsJSON(w io.Writer, sum manifest.Summary) (*urlsJSON, error) {
	head, err := json.MarshalIndent(validateJSONOf(sum), "", "  ")
	if err != nil {
		return nil, err
	}
	head = bytes.TrimSuffix(head, []byte("}"))
	if bytes.Equal(head, []byte("{")) {
		head = append(head, '\n') // no field before "urls"
	} else {
		head = append(bytes.TrimSuffix(head, []byte("\n")), ",\n"...)
	}
	_, err = fmt.Fprintf(w, `%s  "urls": `, head)
	return &urlsJSON{w: w}, err
}

// add writes one row's verdict.
func (j *urlsJSON) add(ch urlCheck) {
	b, err := json.MarshalIndent(urlCheckJSONOf(ch), "    ", "  ")
	if err != nil {
		return // a urlCheck is strings and numbers: it always encodes
	}
	sep := ",\n    "
	if j.n == 0 {
		sep = "[\n    "
	}
	j.n++
	fmt.Fprintf(j.w, "%s%s", sep, b)
}

// close ends the array and the object.
func (j *urlsJSON) close() {
	if j.n == 0 {
		fmt.Fprint(j.w, "[]\n}\n")
		return
	}
	fmt.Fprint(j.w, "\n  ]\n}\n")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
