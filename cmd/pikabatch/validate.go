package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"

	"github.com/pikabatch/pikabatch/manifest"
)

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pikabatch validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("manifest", "", "manifest `file` (CSV or JSONL)")
	format := fs.String("format", "auto", "manifest format: auto (by extension), csv or jsonl")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	checkURLsFlag := fs.Bool("check-urls", false, "also ask each image host whether the image is reachable, an image, and at most 50 MB (HEAD, else a ranged GET)")
	checkConc := fs.Int("check-concurrency", 8, "image hosts asked at once with --check-urls")
	checkRPS := fs.Float64("check-rps", 10, "requests per second to image hosts with --check-urls")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (the manifest is --manifest FILE)", fs.Arg(0))
	}
	if *path == "" {
		return usagef("--manifest is required")
	}
	f, err := manifest.ParseFormat(*format)
	if err != nil {
		return usagef("--format: %v", err)
	}
	sum, err := manifest.Validate(ctx, *path, f, nil)
	if err != nil {
		return manifestError(err)
	}
	if *checkURLsFlag && (*checkConc < 1 || *checkRPS <= 0) {
		return usagef("--check-concurrency must be at least 1 and --check-rps above 0")
	}
	if *asJSON {
		if !*checkURLsFlag {
			writeJSON(stdout, sum)
			return nil
		}
		checks, err := checkURLs(ctx, *path, f, *checkConc, *checkRPS, nil)
		writeJSON(stdout, struct {
			manifest.Summary
			URLs []urlCheck `json:"urls"`
		}{sum, checks})
		return err
	}
	fmt.Fprintf(stdout, "%s: %d rows, valid\n", *path, sum.Rows)
	res := make([]string, 0, len(sum.ByResolution))
	for r := range sum.ByResolution {
		res = append(res, r)
	}
	sort.Strings(res)
	for _, r := range res {
		fmt.Fprintf(stdout, "  resolution %-6s %d\n", r, sum.ByResolution[r])
	}
	durs := make([]int, 0, len(sum.ByDuration))
	for d := range sum.ByDuration {
		durs = append(durs, d)
	}
	sort.Ints(durs)
	for _, d := range durs {
		fmt.Fprintf(stdout, "  duration %2ds    %d\n", d, sum.ByDuration[d])
	}
	if sum.DuplicateRows > 0 {
		fmt.Fprintf(stdout, "  %d rows repeat an earlier row's parameters (each is still its own job)\n", sum.DuplicateRows)
	}
	if *checkURLsFlag {
		_, err := checkURLs(ctx, *path, f, *checkConc, *checkRPS, stdout)
		return err
	}
	return nil
}
