package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/results"
)

// recoverOptions are recover's flags.
type recoverOptions struct {
	out, state, index string
	shard             string // --shard K/N
	asJSON            bool
}

func newRecoverCmd(stdout io.Writer) *cobra.Command {
	var o recoverOptions
	c := &cobra.Command{
		Use:   "recover --out DIR",
		Short: "Rebuild a missing or damaged state from results.jsonl",
		Long: `Rebuild a missing or damaged state file from the batch's results index:
request IDs, states, files, sizes and hashes. A damaged state file is kept
as STATE.damaged-TIME. Nothing is sent to the API.`,
		Example: `  pikabatch recover --out out
  pikabatch recover --out out --shard 2/4`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runRecover(c.Context(), o, stdout)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.out, "out", "", "output `folder` of the batch")
	fs.StringVar(&o.state, "state", "", "state `file` to rebuild (default OUT/.pikabatch.db, or the shard's)")
	fs.StringVar(&o.index, "index", "", "results `index` to rebuild from (default OUT/results.jsonl, or the shard's)")
	fs.StringVar(&o.shard, "shard", "", "the batch's `K/N` shard, as given to run")
	fs.BoolVar(&o.asJSON, "json", false, "print the outcome as JSON")
	markRequired(c, "out")
	return c
}

// runRecover rebuilds the state file o names from its results index.
func runRecover(ctx context.Context, o recoverOptions, stdout io.Writer) error {
	res, err := batch.Recover(ctx, batch.RecoverConfig{Out: o.out, State: o.state, Index: o.index, Shard: o.shard})
	if err != nil {
		return err
	}
	if o.asJSON {
		return writeJSON(stdout, recoverJSONOf(res.RecoverReport, res.KeptAs))
	}
	rep := res.RecoverReport
	if res.KeptAs != "" {
		fmt.Fprintf(stdout, "damaged state file kept as %s\n", res.KeptAs)
	}
	fmt.Fprintf(stdout, "rebuilt %s from %s (written %s): %s\n", res.StatePath, res.IndexPath,
		rep.IndexTime.Format(time.RFC3339), plural(rep.Jobs, "job"))
	fmt.Fprintf(stdout, "  %d done (files present), %d in flight (polled by request ID), %d done with a file missing (fetched again by request ID, no new render)\n",
		rep.Done, rep.InFlight, rep.Refetch)
	fmt.Fprintf(stdout, "  %d uncertain, %d pending, %d failed, cancelled, timed out or expired\n", rep.Uncertain, rep.Pending, rep.Finished)
	if len(rep.SkippedLines) > 0 {
		fmt.Fprintf(stdout, "  skipped lines %v of %s: longer than %d bytes, no entry pikabatch writes; their rows, if any, are submitted again\n",
			rep.SkippedLines, res.IndexPath, results.MaxLineBytes)
	}
	if rep.Journaled > 0 {
		fmt.Fprintf(stdout, "  %d request IDs from the recovery journal\n", rep.Journaled)
	}
	fmt.Fprintln(stdout, "jobs submitted after the index was written are not in it: check the run's log for their request IDs before running again")
	return nil
}
