package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/report"
)

// reportOptions are report's flags.
type reportOptions struct {
	batches batchFlags
}

func newReportCmd(stdout io.Writer) *cobra.Command {
	var o reportOptions
	c := &cobra.Command{
		Use:   "report --out DIR",
		Short: "Write DIR/report.html: the clips, the failures and the spend (also of a live run)",
		Long: `Write DIR/report.html, one self-contained page to open from disk: the
counts and spend, a grid of the clips, the failures grouped by message,
and a filter by state.`,
		Example: `  pikabatch report --out renders`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runReport(c.Context(), o, stdout)
		},
	}
	o.batches.register(c.Flags())
	// The report is written there, and names the videos relative to it.
	_ = c.MarkFlagRequired("out")
	return c
}

// runReport writes the report of the batch o names into its folder.
func runReport(ctx context.Context, o reportOptions, stdout io.Writer) error {
	files, err := o.batches.stateFiles()
	if err != nil {
		return err
	}
	srcs, err := openBatches(ctx, files, live.OpenOptions{})
	if err != nil {
		return err
	}
	defer live.CloseAll(srcs)
	opts := report.Options{Dir: o.batches.out, StateFiles: files}
	rs := make([]report.Source, len(srcs))
	for i, s := range srcs {
		rs[i] = s
		opts.Live = opts.Live || s.IsLive()
		// The account status tells, so that the report tells the same.
		st, err := s.Status(ctx)
		if err != nil {
			return err
		}
		opts.Account = opts.Account.Plus(st.Account)
	}
	sum, err := report.WriteFile(ctx, opts, rs...)
	if err != nil {
		return err
	}
	path := filepath.Join(o.batches.out, report.FileName)
	link := path
	if abs, err := filepath.Abs(path); err == nil {
		link = (&url.URL{Scheme: "file", Path: abs}).String()
	}
	fmt.Fprintf(stdout, "pikabatch: report of %d jobs (%d clips, %d submits) written to %s\n%s\n",
		sum.Jobs, sum.Clips, sum.Submits, path, sum.AccountText)
	if sum.SpendText != "" {
		fmt.Fprintln(stdout, sum.SpendText)
	}
	fmt.Fprintf(stdout, "open %s\n", link)
	return nil
}
