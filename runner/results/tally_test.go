package results_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

type entries []results.Entry

func (es entries) Export(_ context.Context, fn func(results.Entry) error) error {
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// TestTallyIsTheIndexAccount: each listed job in its outcome, orphans
// left out, the reported costs and the estimates apart.
func TestTallyIsTheIndexAccount(t *testing.T) {
	t.Parallel()
	l, err := results.Tally(t.Context(), entries{
		{Key: "a", State: store.StateDone, Attempts: 1, CostUSD: usd(0.044)},
		{Key: "b", State: store.StateDone, Attempts: 1, CostUSD: usd(0.044)},
		{Key: "c", State: store.StateFailed, Attempts: 1, CostEstimatedUSD: usd(0.02)},
		{Key: "d", State: store.StateRunning, Attempts: 1},
		{Key: "e", State: store.StateUncertain, Attempts: 1},
		{Key: "f", State: store.StatePending},
		{Key: "g", State: store.StateDone, Orphan: true, CostUSD: usd(1)},
	})
	require.NoError(t, err)
	assert.Equal(t, account.Ledger{Rows: 6, Done: 2, Failed: 1, InFlight: 1, Held: 1, NotSubmitted: 1,
		Spend: account.Spend{ReportedUSD: account.Dollars(0.088), ReportedJobs: 2, EstimatedUSD: account.Dollars(0.02),
			EstimatedJobs: 1, UnknownJobs: 2}}, l)
	assert.True(t, l.Rows == l.Counted())
}
