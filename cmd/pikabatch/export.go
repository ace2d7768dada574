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
)

// cmdExport writes the dataset's index: one row per job of one or several
// state files (shards), from a live run if one holds a file.
func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pikabatch export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf batchFlags
	bf.register(fs)
	format := fs.String("format", "", "csv or jsonl (default: by -o's extension, else jsonl)")
	outFile := fs.String("o", "-", "write to `file` (atomically) instead of stdout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: pikabatch export --out DIR [--format csv|jsonl] [-o FILE]\n       pikabatch export --state FILE [--state FILE…] …\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	f := *format
	if f == "" {
		f = "jsonl"
		if strings.EqualFold(filepath.Ext(*outFile), ".csv") {
			f = "csv"
		}
	}
	ff, err := live.ParseFormat(f)
	if err != nil {
		return usagef("--format: %v", err)
	}
	srcs, err := bf.open(ctx, live.OpenOptions{})
	if err != nil {
		return err
	}
	defer closeBatches(srcs)
	exps := make([]live.Exporter, len(srcs))
	for i, s := range srcs {
		exps[i] = s
	}
	if *outFile == "-" {
		_, err = live.WriteIndex(ctx, stdout, ff, exps...)
		return err
	}
	n, err := live.WriteIndexFile(ctx, *outFile, ff, exps...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pikabatch: exported %d jobs from %d state file(s) to %s\n", n, len(srcs), *outFile)
	return nil
}

// helpOK turns a help request into success and passes other errors on.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
