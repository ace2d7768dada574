package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/sim"
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
	usd, unknown, err := spentInState(context.Background(), st, nil, money.NewPricer(money.PriceConfig{OverrideUSD: 0.5}))
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
	b, err := money.NewBudget(n*0.000001, 0)
	require.NoError(t, err)
	var jobs []store.Job
	for i := range n {
		require.NoError(t, b.Reserve(each), "job %d", i)
		jobs = append(jobs, store.Job{Key: string(rune('a' + i)), State: store.StateDone, RequestID: "r", Attempts: 1})
	}
	require.Error(t, b.Reserve(each), "the first run stops at the limit")

	usd, _, err := spentInState(context.Background(), budgetState(t, jobs...), nil, money.NewPricer(money.PriceConfig{OverrideUSD: each}))
	require.NoError(t, err)
	next, err := money.NewBudget(n*0.000001, usd)
	require.NoError(t, err)
	assert.ErrorIs(t, next.Reserve(each), money.ErrOverBudget, "the next run finds the budget spent")
}

// A price that drops between runs must not make the jobs sent before
// cheaper: the budget they used up stays used up. (A price that rises
// counts them at the new price: more, never less, than was reserved.)
func TestMaxCostPriceDropBetweenRuns(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 3})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	env := tokenEnv(srv.APIURL)
	args := []string{"run", "--manifest", m, "--out", filepath.Join(dir, "out"), "--concurrency", "1", "--progress", "off"}

	code, stdout, stderr := invoke(t, env, append(args, "--max-cost", "0.6", "--price", "0.2")...)
	require.Equal(t, exitTempFail, code, stderr)
	require.Contains(t, stdout, "$0.600 in all of $0.600; $0.000 left\n")
	require.EqualValues(t, 3, srv.Counters().Submits)

	code, stdout, stderr = invoke(t, env, append(args, "--price", "0.1")...)
	assert.Equal(t, exitTempFail, code, stderr)
	assert.EqualValues(t, 3, srv.Counters().Submits, "the budget was spent at the old price")
	assert.Contains(t, stdout, "$0.600 in all of $0.600; $0.000 left\n")
}

// 256 submits in flight at the edge of the budget, with answers lost and
// re-sent: the simulator is paid for no more than --max-cost, and the run
// reports the spend it reserved.
func TestMaxCostWith256InFlight(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 9, Slots: 512, Faults: sim.Faults{RateLostResponse: 0.3}})
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,image,promptText\n")
	for i := range 400 {
		fmt.Fprintf(&b, "r%d,https://img.example.com/%d.jpg,waves %d\n", i, i, i)
	}
	m := writeFile(t, filepath.Join(dir, "m.csv"), b.String())
	code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "out"),
		"--concurrency", "256", "--rps", "0", "--progress", "off", "--max-cost", "2.2") // 50 jobs at $0.044
	assert.Equal(t, exitTempFail, code, stderr)
	c := srv.Counters()
	assert.LessOrEqual(t, c.SpentUSD, 2.2+1e-9, "paid %d submits", c.Submits)
	assert.EqualValues(t, 50, c.Submits, "the budget is used to the last job")
	assert.Contains(t, stdout, "$2.200 in all of $2.200; $0.000 left\n")
}
