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

// checkURLs checks every file input of every row of the manifest at path
// (probe.CheckRows), passing each verdict to emit as it comes.
func checkURLs(ctx context.Context, path string, cfg manifest.Config, concurrency int, rps float64, emit func(probe.RowCheck)) (probe.Tally, error) {
	rows, err := manifest.OpenConfig(path, cfg)
	if err != nil {
		return probe.Tally{}, manifestError(err)
	}
	defer rows.Close()
	// Bucket URLs are asked of the bucket, with the cloud's credentials.
	bc := bucket.NewClient()
	defer bc.Close()
	c := probe.New(probe.Config{Concurrency: concurrency, RPS: rps, Objects: bc,
		// Image hosts get no token: this client has never seen it.
		HTTPClient: &http.Client{Transport: transport(concurrency)}})
	return probe.CheckRows(ctx, c, rows, emit)
}

// printURLCheck returns an emit for checkURLs that prints one line per row.
func printURLCheck(w io.Writer, path string) func(probe.RowCheck) {
	return func(ch probe.RowCheck) { fmt.Fprintln(w, ch.Text(path)) }
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

// humanBytes is n for people, as the URL checks print sizes.
func humanBytes(n int64) string { return probe.HumanBytes(n) }
