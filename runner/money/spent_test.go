package money

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/store"
)

// budgetState opens a state file holding jobs, closed when the test ends.
func budgetState(t *testing.T, jobs ...store.Job) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, st.Close()) })
	for _, j := range jobs {
		if j.ParamHash == "" {
			j.ParamHash = "h-" + j.Key
		}
		if j.Input == nil {
			j.Input = json.RawMessage(`{}`)
		}
		require.NoError(t, st.Put(context.Background(), j))
	}
	return st
}

// A submit the API rejected (400/422: no job, nothing charged) gives its
// reservation back in the run; the next run must not take it again from
// the budget by counting the attempt the state keeps.
func TestSpentInStateSkipsRejectedSubmits(t *testing.T) {
	t.Parallel()
	st := budgetState(t,
		store.Job{Key: "done", State: store.StateDone, RequestID: "req-1", Attempts: 1},
		store.Job{Key: "rejected", State: store.StateFailed, Attempts: 1, LastError: "input rejected"},
		store.Job{Key: "lost-then-rejected", State: store.StateFailed, Attempts: 2, Resent: 1, LastError: "input rejected"},
		store.Job{Key: "failed-render", State: store.StateFailed, RequestID: "req-2", Attempts: 1},
	)
	usd, unknown, err := SpentInState(context.Background(), st, NewPricer(PriceConfig{OverrideUSD: 0.5}))
	require.NoError(t, err)
	assert.Zero(t, unknown)
	assert.Equal(t, 1.5, usd, "done, the lost first send, and the failed render: not the rejections")
}

// The spend recorded in the state is counted as the budget reserves it:
// each job rounded to micro-dollars. A float sum of the raw prices drifts
// below what the runs reserved, and the next run would submit past the
// limit.
func TestSpentInStateCountsAsTheBudgetReserves(t *testing.T) {
	t.Parallel()
	const each, n = 0.0000006, 10 // reserved as 1 micro-dollar each
	b, err := NewBudget(n*0.000001, 0)
	require.NoError(t, err)
	var jobs []store.Job
	for i := range n {
		require.NoError(t, b.Reserve(each), "job %d", i)
		jobs = append(jobs, store.Job{Key: string(rune('a' + i)), State: store.StateDone, RequestID: "r", Attempts: 1})
	}
	require.Error(t, b.Reserve(each), "the first run stops at the limit")

	usd, _, err := SpentInState(context.Background(), budgetState(t, jobs...), NewPricer(PriceConfig{OverrideUSD: each}))
	require.NoError(t, err)
	next, err := NewBudget(n*0.000001, usd)
	require.NoError(t, err)
	assert.ErrorIs(t, next.Reserve(each), ErrOverBudget, "the next run finds the budget spent")
}

// A dry run says how many rows the recorded budget would leave unsent.
func TestRecordedUnsent(t *testing.T) {
	t.Parallel()
	r := &Recorded{LimitUSD: 1, SpentUSD: 0.5}
	rows, need, short := r.Unsent(Total{USD: 0.8, Rows: 4}, 4)
	require.True(t, short)
	assert.Equal(t, 2, rows, "two rows of $0.20 fit in the $0.50 left")
	assert.InDelta(t, 1.3, need, 1e-9)
	_, _, short = r.Unsent(Total{USD: 0.5, Rows: 5}, 5)
	assert.False(t, short, "a spend that reaches the limit exactly fits")
}
