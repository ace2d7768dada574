package results

import (
	"context"

	"github.com/pikabatch/pikabatch/runner/account"
)

// Tally is the account of a batch kept by its index alone, without its
// state file: where each job the index lists stands, and what the index
// says was spent (the reported costs and the estimates it carries). It is
// how a batch is read from a bucket, where only the index was copied.
// An index lists the rows a run read; rows of the manifest never read
// are not in it, so Rows counts the jobs listed (orphans left out, as
// they are no rows).
func Tally(ctx context.Context, src Exporter) (account.Ledger, error) {
	var l account.Ledger
	err := src.Export(ctx, func(e Entry) error {
		if e.Orphan {
			return nil
		}
		l.Add(e.State, 1)
		switch {
		case e.CostUSD != nil:
			l.Spend.ReportedUSD += account.Dollars(*e.CostUSD)
			l.Spend.ReportedJobs++
		case e.CostEstimatedUSD != nil:
			l.Spend.EstimatedUSD += account.Dollars(*e.CostEstimatedUSD)
			l.Spend.EstimatedJobs++
		case e.Attempts > 0:
			l.Spend.UnknownJobs++
		}
		return ctx.Err()
	})
	l.Rows = l.Counted()
	return l, err
}
