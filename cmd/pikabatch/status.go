package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

// statusOptions are status's flags.
type statusOptions struct {
	batches batchFlags
	from    string // a bucket prefix the batch's indexes were copied to
	asJSON  bool
}

func newStatusCmd(stdout io.Writer) *cobra.Command {
	var o statusOptions
	c := &cobra.Command{
		Use:   "status --out DIR | --from BUCKET_URL [--json]",
		Short: "Show where a batch stands (also while a run is live)",
		Long: `Show where one batch (or every shard of it) stands, from the live run
when one holds the state file. With --from, from the results indexes the
runs copied to a bucket prefix (--sync-to): every shard's, on whatever
machine it ran, merged, with no state file.`,
		Example: `  pikabatch status --out out
  pikabatch status --out out --json
  pikabatch status --state a/.pikabatch-0-of-2.db --state b/.pikabatch-1-of-2.db
  pikabatch status --from s3://renders/batch1`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runStatus(c.Context(), o, stdout)
		},
	}
	o.batches.register(c.Flags())
	c.Flags().BoolVar(&o.asJSON, "json", false, "print the status as JSON")
	c.Flags().StringVar(&o.from, "from", "", fromUsage)
	markBatchOrFromRequired(c)
	return c
}

// runStatus reports every batch o names.
func runStatus(ctx context.Context, o statusOptions, stdout io.Writer) error {
	if o.from != "" {
		return runStatusFrom(ctx, o, stdout)
	}
	files, err := o.batches.stateFiles()
	if err != nil {
		return err
	}
	rep, err := live.Collect(ctx, files)
	var oe *live.OpenError
	if errors.As(err, &oe) {
		return damagedHint(err)
	}
	if err != nil {
		return err
	}
	var partial error
	if n := len(rep.Unreachable); n > 0 {
		partial = fmt.Errorf("%d of %d state files held by runs this machine cannot reach; the totals leave them out: %w", n, len(files), store.ErrLocked)
	}
	if o.asJSON {
		if err := writeJSON(stdout, statusJSON{Version: jsonVersion, Report: rep}); err != nil {
			return err
		}
		return partial
	}
	rep.WriteText(stdout)
	return partial
}
