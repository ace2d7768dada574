package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/probe"
	"github.com/pikabatch/pikabatch/runner/bucket"
)

// urlTally is the URL check's tally, told to people.
type urlTally struct{ probe.Tally }

// noun is what the URLs are: Pika's (and any one-input model's) image
// URLs, or several file inputs' URLs.
func (t urlTally) noun() string {
	if t.SeveralPerRow {
		return "file"
	}
	return "image"
}

// line is the tally for people: URLs, and rows when a row has several.
func (t urlTally) line() string {
	if !t.SeveralPerRow {
		return fmt.Sprintf("image URLs: %d rows checked, %d ok, %d would fail", t.Checked, t.Checked-t.Bad, t.Bad)
	}
	s := fmt.Sprintf("file URLs: %d checked in %d rows, %d ok, %d would fail", t.Checked, t.Rows, t.Checked-t.Bad, t.Bad)
	if t.Bad > 0 {
		rows := "rows"
		if t.BadRows == 1 {
			rows = "row"
		}
		s += fmt.Sprintf(" (%d %s)", t.BadRows, rows)
	}
	return s
}

// checkURLs checks every file input of every row of the manifest at path
// (probe.CheckRows), passing each verdict to emit as it comes.
func checkURLs(ctx context.Context, path string, cfg manifest.Config, concurrency int, rps float64, emit func(probe.RowCheck)) (urlTally, error) {
	rows, err := manifest.OpenConfig(path, cfg)
	if err != nil {
		return urlTally{}, manifestError(err)
	}
	defer rows.Close()
	// Bucket URLs are asked of the bucket, with the cloud's credentials.
	bc := bucket.NewClient()
	defer bc.Close()
	c := probe.New(probe.Config{Concurrency: concurrency, RPS: rps, Objects: bc,
		// Image hosts get no token: this client has never seen it.
		HTTPClient: &http.Client{Transport: transport(concurrency)}})
	t, err := probe.CheckRows(ctx, c, rows, emit)
	return urlTally{t}, err
}

// printURLCheck returns an emit for checkURLs that prints one line per row.
func printURLCheck(w io.Writer, path string) func(probe.RowCheck) {
	return func(ch probe.RowCheck) {
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
// []probe.RowCheck field "urls" ([] when no row was checked).
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
func (j *urlsJSON) add(ch probe.RowCheck) {
	b, err := json.MarshalIndent(ch, "    ", "  ")
	if err != nil {
		return // a RowCheck is strings and numbers: it always encodes
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
