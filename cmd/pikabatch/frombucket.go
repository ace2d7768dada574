package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
	"github.com/pikabatch/pikabatch/runner/live"
)

// fromUsage is the --from flag's help, on status and export.
const fromUsage = "read the batch from the results indexes its runs copied to `BUCKET_URL` (--sync-to): every shard's, merged; no state file needed"

// markBatchOrFromRequired is markBatchRequired for a command that also
// reads a batch from a bucket (--from): one of the three, and --from alone.
func markBatchOrFromRequired(c *cobra.Command) {
	c.MarkFlagsOneRequired("out", "state", "from")
	c.MarkFlagsMutuallyExclusive("from", "out")
	c.MarkFlagsMutuallyExclusive("from", "state")
	c.Flags().Lookup("out").Usage += " (this, --state or --from is required)"
}

// bucketIndexes opens the results indexes copied under the prefix raw
// names; close the client once they are read.
func bucketIndexes(ctx context.Context, raw string) ([]bucketsync.Index, *bucket.Client, error) {
	prefix, err := bucket.Parse(raw)
	if err != nil {
		return nil, nil, usagef("--from: %v", err)
	}
	client := bucket.NewClient()
	ixs, err := bucketsync.Indexes(ctx, client, prefix)
	if err != nil {
		_ = client.Close()
		return nil, nil, err
	}
	return ixs, client, nil
}

// runStatusFrom reports a batch from the indexes its shards copied to a
// bucket: each index's account, and theirs together.
func runStatusFrom(ctx context.Context, o statusOptions, stdout io.Writer) error {
	ixs, client, err := bucketIndexes(ctx, o.from)
	if err != nil {
		return err
	}
	defer client.Close()
	st, err := bucketsync.StatusOf(ctx, ixs)
	if err != nil {
		return err
	}
	if o.asJSON {
		t := st.Total
		rep := live.Report{Jobs: t.Jobs, ByState: t.ByState, Account: t.Account, Batches: []live.Status{}}
		return writeJSON(stdout, statusJSON{Version: jsonVersion, Report: rep, Indexes: st.Indexes})
	}
	st.WriteText(stdout)
	return nil
}
