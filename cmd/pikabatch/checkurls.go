package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/probe"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/bucket"
)

// checkURLs checks every file input of every row of the manifest at path
// (probe.CheckRows), passing each verdict to emit as it comes.
func checkURLs(ctx context.Context, path string, cfg manifest.Config, concurrency int, rps float64, emit func(probe.RowCheck)) (probe.Tally, error) {
	rows, err := manifest.OpenConfig(path, cfg)
	if err != nil {
		return probe.Tally{}, batch.ManifestError(err)
	}
	defer rows.Close()
	// Bucket URLs are asked of the bucket, with the cloud's credentials.
	bc := bucket.NewClient()
	defer bc.Close()
	c := probe.New(probe.Config{Concurrency: concurrency, RPS: rps, Objects: bc,
		// Image hosts get no token: this client has never seen it.
		HTTPClient: &http.Client{Transport: batch.Transport(concurrency)}})
	return probe.CheckRows(ctx, c, rows, emit)
}

// printURLCheck returns an emit for checkURLs that prints one line per row.
func printURLCheck(w io.Writer, path string) func(probe.RowCheck) {
	return func(ch probe.RowCheck) { fmt.Fprintln(w, ch.Text(path)) }
}

// newURLsJSON writes `validate --check-urls --json` as it goes: the
// summary's fields, then each row's verdict (probe.JSONStream).
func newURLsJSON(w io.Writer, sum manifest.Summary) (*probe.JSONStream, error) {
	return probe.NewJSONStream(w, validateJSONOf(sum))
}
