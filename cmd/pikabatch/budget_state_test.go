package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

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
