package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/runner/verify"
	"github.com/pikabatch/pikabatch/store"
)

// errVerifyFailed: some downloaded files are not what the state recorded.
var errVerifyFailed = errors.New("some files failed verification")

// verifyOptions are verify's flags.
type verifyOptions struct {
	batches batchFlags
	verify  verify.Options
	asJSON  bool
}

func newVerifyCmd(stdout io.Writer) *cobra.Command {
	var o verifyOptions
	c := &cobra.Command{
		Use:   "verify --out DIR [--remove-bad]",
		Short: "Re-hash every downloaded file against the state",
		Long:  "Re-hash every done job's files under --out against the SHA-256 the state recorded.",
		Example: `  pikabatch verify --out out
  pikabatch verify --out out --remove-bad`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runVerify(c.Context(), o, stdout)
		},
	}
	fs := c.Flags()
	o.batches.register(fs)
	fs.BoolVar(&o.verify.RemoveBad, "remove-bad", false, "remove files of the wrong size or hash, so that the next run downloads them again (judged from the state file itself: not while a run holds it)")
	fs.IntVar(&o.verify.Workers, "workers", 0, "files hashed at once (default the number of CPUs)")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	markRequired(c, "out")
	return c
}

// runVerify checks the files of every batch o names, and their bucket
// copies.
func runVerify(ctx context.Context, o verifyOptions, stdout io.Writer) error {
	out := o.batches.out
	if out == "" {
		return usagef("--out is required: the files are found there")
	}
	rep, err := verifyFiles(ctx, o)
	if err != nil {
		return err
	}
	files, err := o.batches.stateFiles()
	if err != nil {
		return err
	}
	// After verifyFiles has closed the state files: a check of the copies
	// opens them to queue the bad ones for upload.
	copies, err := verify.CheckStateCopies(ctx, files, o.verify)
	if err != nil {
		return err
	}
	bad := len(rep.Findings)
	for _, c := range copies {
		if c.Report != nil {
			bad += len(c.Report.Findings)
		}
	}
	if o.asJSON {
		if err := writeJSON(stdout, verifyJSONOf(rep, copies)); err != nil {
			return err
		}
	} else {
		rep.WriteText(stdout, out)
		verify.WriteCopies(stdout, copies)
	}
	if bad > 0 {
		hint := "run with --remove-bad, then run the batch again to download them"
		if o.verify.RemoveBad || len(rep.Findings) == 0 {
			hint = "run the batch again to download or upload them"
		}
		return fmt.Errorf("%w: %d of %d; %s", errVerifyFailed, bad, rep.Files+verify.CopiesChecked(copies), hint)
	}
	return nil
}

// verifyFiles hashes the files of every batch o names.
func verifyFiles(ctx context.Context, o verifyOptions) (verify.Report, error) {
	// What --remove-bad deletes is judged from the state file and the
	// disk alone: whoever answers on the control socket need not be the
	// batch's run. A run holding the state file is downloading into the
	// folder anyway, so removing files under it waits for it to end.
	srcs, err := o.batches.open(ctx, live.OpenOptions{StateOnly: o.verify.RemoveBad})
	if errors.Is(err, store.ErrLocked) {
		return verify.Report{}, fmt.Errorf("%w; --remove-bad reads the state file itself: let the run finish (or stop it), or verify without --remove-bad", err)
	}
	if err != nil {
		return verify.Report{}, err
	}
	defer live.CloseAll(srcs)
	entries := func(ctx context.Context, fn func(results.Entry) error) error {
		for _, s := range srcs {
			if err := s.Export(ctx, fn); err != nil {
				return err
			}
		}
		return nil
	}
	return verify.Check(ctx, o.batches.out, entries, o.verify)
}
