package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/report"
)

// cmdReport writes DIR/report.html, a page to look at a batch (also of a
// live run): counts and spend, the clips, the failures.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pikabatch report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf batchFlags
	bf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: pikabatch report --out DIR [--state FILE…]\n\nWrites DIR/report.html: open it in a browser, from disk.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if bf.out == "" {
		return usagef("--out is required: the report is written there, beside the videos it shows")
	}
	files, err := bf.stateFiles()
	if err != nil {
		return err
	}
	srcs, err := openBatches(ctx, files, live.OpenOptions{})
	if err != nil {
		return err
	}
	defer closeBatches(srcs)
	rs := make([]report.Source, len(srcs))
	for i, s := range srcs {
		rs[i] = s
	}
	sum, err := report.WriteFile(ctx, report.Options{Dir: bf.out, StateFiles: files}, rs...)
	if err != nil {
		return err
	}
	path := filepath.Join(bf.out, report.FileName)
	link := path
	if abs, err := filepath.Abs(path); err == nil {
		link = (&url.URL{Scheme: "file", Path: abs}).String()
	}
	fmt.Fprintf(stdout, "pikabatch: report of %d jobs (%d clips, %d failed, %d submits) written to %s\nopen %s\n",
		sum.Jobs, sum.Clips, sum.Failed, sum.Submits, path, link)
	return nil
}
