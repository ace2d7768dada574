package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
	schemaFile := fs.String("schema", "", "the model's input schema, a JSON Schema `file` (default: the built-in one of pika/pika-2-2/image-to-video)")
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
	schema, err := loadSchema("", *schemaFile)
	if err != nil {
		return err
	}
	cfg := manifest.Config{Format: f, Schema: schema}
	if *checkURLsFlag && (*checkConc < 1 || *checkRPS <= 0) {
		return usagef("--check-concurrency must be at least 1 and --check-rps above 0")
	}
	if *checkURLsFlag {
		// Checking the URLs reads the manifest a second time.
		if err := requireRegularManifest(*path, "validate --check-urls"); err != nil {
			return err
		}
	}
	sum, err := manifest.ValidateConfig(ctx, *path, cfg, nil)
	if err != nil {
		return manifestError(err)
	}
	if *asJSON {
		if !*checkURLsFlag {
			writeJSON(stdout, sum)
			return nil
		}
		out, err := newURLsJSON(stdout, sum)
		if err != nil {
			return err
		}
		_, err = checkURLs(ctx, *path, cfg, *checkConc, *checkRPS, out.add)
		out.close()
		return err
	}
	if *checkURLsFlag {
		// No verdict yet: the URLs may still fail. It comes last.
		fmt.Fprintf(stdout, "%s: %d rows\n", *path, sum.Rows)
	} else {
		fmt.Fprintf(stdout, "%s: %d rows, valid\n", *path, sum.Rows)
	}
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
		t, err := checkURLs(ctx, *path, cfg, *checkConc, *checkRPS, printURLCheck(stdout, *path))
		if err == nil || errors.Is(err, errBadURLs) {
			fmt.Fprintf(stdout, "image URLs: %d rows checked, %d ok, %d would fail\n", t.checked, t.checked-t.bad, t.bad)
		}
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "%s: %d rows, valid; every image URL ok\n", *path, sum.Rows)
		case errors.Is(err, errBadURLs):
			fmt.Fprintf(stdout, "%s: %d rows, %d would fail: their image URLs failed the check\n", *path, sum.Rows, t.bad)
		}
		return err
	}
	return nil
}

// requireRegularManifest refuses a manifest that is a pipe, a socket or a
// device: cmd reads the manifest twice (every row is checked before
// anything is sent, then it is read again to submit or check), and a pipe
// such as --manifest /dev/stdin yields its rows only once, so the second
// pass found it empty after the first had called it valid (issue 14). A
// hidden copy would work, but would put a manifest of any size on a disk
// the user did not choose, and a resume needs the same manifest again
// anyway: a file is the honest answer. A directory or a missing file is
// left to the reader, which names the problem.
func requireRegularManifest(path, cmd string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().IsRegular() || fi.IsDir() {
		return nil
	}
	kind := "not a regular file"
	switch m := fi.Mode(); {
	case m&os.ModeNamedPipe != 0:
		kind = "a pipe"
	case m&os.ModeSocket != 0:
		kind = "a socket"
	case m&os.ModeDevice != 0:
		kind = "a device"
	}
	return usagef("--manifest %s is %s: %s reads the manifest twice (once to check every row before anything is sent, then again), and a pipe gives its rows only once; write it to a file first (for example: make-manifest > clips.csv) and pass that", path, kind, cmd)
}
