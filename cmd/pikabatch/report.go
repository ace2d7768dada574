package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/price"
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
	defer closeBatches(srcs)
	opts := report.Options{Dir: o.batches.out, StateFiles: files}
	rs := make([]report.Source, len(srcs))
	for i, s := range srcs {
		rs[i] = s
		opts.Live = opts.Live || s.IsLive()
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
	spend := ""
	if sum.PricedJobs > 0 {
		spend = fmt.Sprintf(", %s for %d priced jobs", price.USD(sum.SpendUSD), sum.PricedJobs)
	}
	fmt.Fprintf(stdout, "pikabatch: report of %d jobs (%d clips, %d failed, %d submits%s) written to %s\nopen %s\n",
		sum.Jobs, sum.Clips, sum.Failed, sum.Submits, spend, path, link)
	return nil
}
