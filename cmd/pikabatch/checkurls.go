package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/probe"
)

// urlCheck is one row's verdict, for `validate --check-urls --json`.
type urlCheck struct {
	Line int    `json:"line"`
	Key  string `json:"key"`
	probe.Result
}

// errBadURLs: some image URLs would fail their jobs (exit 65).
var errBadURLs = errors.New("image URLs failed the check")

// checkURLs asks each image host about every row's image and prints one
// line per row, in manifest order.
func checkURLs(ctx context.Context, path string, format manifest.Format, concurrency int, rps float64, stdout io.Writer) ([]urlCheck, error) {
	rows, err := manifest.Open(path, format)
	if err != nil {
		return nil, manifestError(err)
	}
	defer rows.Close()
	c := probe.New(probe.Config{Concurrency: concurrency, RPS: rps,
		// Image hosts get no token: this client has never seen it.
		HTTPClient: &http.Client{Transport: transport(concurrency)}})
	var readErr error
	next := func() (probe.Item[manifest.Row], bool) {
		row, err := rows.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			return probe.Item[manifest.Row]{}, false
		}
		return probe.Item[manifest.Row]{URL: row.Input.Image, Data: row}, true
	}
	var checks []urlCheck
	err = probe.Run(ctx, c, next, func(it probe.Item[manifest.Row], res probe.Result) {
		// Shown, not fetched: without credentials or signatures (issue 14 item 15).
		res.URL = manifest.RedactURL(res.URL)
		checks = append(checks, urlCheck{Line: it.Data.Line, Key: it.Data.Key, Result: res})
	})
	if err == nil {
		err = readErr
	}
	if err != nil {
		return checks, err
	}
	sort.Slice(checks, func(i, k int) bool { return checks[i].Line < checks[k].Line })
	bad := failed(checks)
	if stdout != nil {
		for _, ch := range checks {
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
			fmt.Fprintf(stdout, "  %s:%d %-24s %s %s — %s\n", path, ch.Line, ch.Key, verdict, ch.URL, detail)
		}
		fmt.Fprintf(stdout, "image URLs: %d rows checked, %d ok, %d would fail\n", len(checks), len(checks)-bad, bad)
	}
	if bad > 0 {
		return checks, fmt.Errorf("%d of %d rows: %w", bad, len(checks), errBadURLs)
	}
	return checks, nil
}

// failed counts the checks that would fail their jobs.
func failed(checks []urlCheck) int {
	n := 0
	for _, ch := range checks {
		if !ch.OK {
			n++
		}
	}
	return n
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
