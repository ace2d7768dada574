package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/runner/verify"
)

// errVerifyFailed: some downloaded files are not what the state recorded.
var errVerifyFailed = errors.New("some files failed verification")

// cmdVerify re-hashes a batch's downloaded files against the state file.
func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pikabatch verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf batchFlags
	bf.register(fs)
	var opts verify.Options
	fs.BoolVar(&opts.RemoveBad, "remove-bad", false, "remove files of the wrong size or hash, so that the next run downloads them again")
	fs.IntVar(&opts.Workers, "workers", 0, "files hashed at once (default the number of CPUs)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: pikabatch verify --out DIR [--state FILE…] [--remove-bad] [--json]\n\nRe-hashes every done job's files under DIR against the SHA-256 the state recorded.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if bf.out == "" {
		return usagef("--out is required: the files are found there")
	}
	srcs, err := bf.open(ctx, live.OpenOptions{})
	if err != nil {
		return err
	}
	defer closeBatches(srcs)

	entries := func(ctx context.Context, fn func(results.Entry) error) error {
		for _, s := range srcs {
			if err := s.Export(ctx, fn); err != nil {
				return err
			}
		}
		return nil
	}
	rep, err := verify.Check(ctx, bf.out, entries, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		writeJSON(stdout, rep)
	} else {
		for _, f := range rep.Findings {
			fmt.Fprintf(stdout, "%-24s %-14s %s: %s\n", f.Key, f.Problem, filepath.Join(bf.out, f.Path), f.Detail)
		}
		fmt.Fprintf(stdout, "verified %d files of %d done jobs (%s): %d ok%s\n",
			rep.Files, rep.Jobs, humanBytes(rep.Bytes), rep.OK, problemCounts(rep.Findings))
	}
	if len(rep.Findings) > 0 {
		hint := "run with --remove-bad, then run the batch again to download them"
		if opts.RemoveBad {
			hint = "run the batch again to download them"
		}
		return fmt.Errorf("%w: %d of %d; %s", errVerifyFailed, len(rep.Findings), rep.Files, hint)
	}
	return nil
}

// problemCounts is ", 2 missing, 1 wrong size" for the findings.
func problemCounts(fs []verify.Finding) string {
	order := []verify.Problem{verify.Missing, verify.WrongSize, verify.WrongHash, verify.Unreadable, verify.Unsafe}
	n := map[verify.Problem]int{}
	for _, f := range fs {
		n[f.Problem]++
	}
	var b strings.Builder
	for _, p := range order {
		if n[p] > 0 {
			fmt.Fprintf(&b, ", %d %s", n[p], p)
		}
	}
	return b.String()
}
