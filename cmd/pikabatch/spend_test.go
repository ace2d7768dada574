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

func budgetRows() string {
	var b strings.Builder
	b.WriteString("id,image,promptText\n")
	for i := range 6 {
		fmt.Fprintf(&b, "r%d,https://img.example.com/%d.jpg,waves %d\n", i, i, i)
	}
	return b.String()
}

// TestMaxCostAcrossRuns: --max-cost stops the batch exactly at its budget,
// counted across runs from the state file, with the re-sends of submits
// whose answer was lost counted as spent; a later run without the flag
// keeps the recorded budget.
func TestMaxCostAcrossRuns(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 3, Faults: sim.Faults{RateLostResponse: 0.4}})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	out := filepath.Join(dir, "out")
	env := tokenEnv(srv.APIURL)
	args := []string{"run", "--manifest", m, "--out", out, "--concurrency", "2", "--progress", "off"}

	// $0.132 is three jobs at $0.044.
	code, stdout, stderr := invoke(t, env, append(args, "--max-cost", "0.132")...)
	assert.Equal(t, exitTempFail, code, stderr)
	assert.Contains(t, stdout, "budget (estimate): $0.132 spent this run, $0.132 in all of $0.132; $0.00 left\n")
	assert.Contains(t, stderr, "over budget")
	c := srv.Counters()
	assert.EqualValues(t, 3, c.Submits, "every send is paid: lost answers and their re-sends included")
	assert.InDelta(t, 0.132, c.SpentUSD, 1e-9)
	lostFirst := c.LostResponses

	code, stdout, stderr = invoke(t, env, append(args, "--max-cost", "0.22")...)
	assert.Equal(t, exitTempFail, code, stderr)
	assert.Contains(t, stdout, "budget (estimate): $0.088 spent this run, $0.22 in all of $0.22; $0.00 left\n")
	c = srv.Counters()
	assert.EqualValues(t, 5, c.Submits)
	assert.Positive(t, c.LostResponses, "the test needs an uncertain submit (seed)")
	t.Logf("lost answers: %d in the first run, %d in all", lostFirst, c.LostResponses)

	// No flag: the recorded budget holds.
	code, stdout, stderr = invoke(t, env, args...)
	assert.Equal(t, exitTempFail, code, stderr)
	assert.Contains(t, stdout, "$0.22 in all of $0.22; $0.00 left\n")
	assert.EqualValues(t, 5, srv.Counters().Submits, "nothing more sent")

	code, stdout, stderr = invoke(t, env, append(args, "--max-cost", "1")...)
	require.Equal(t, exitOK, code, stderr)
	c = srv.Counters()
	assert.GreaterOrEqual(t, c.Submits, int64(6))
	assert.Contains(t, stdout, fmt.Sprintf("in all of $1.00; %s left\n", usdText(1-0.044*float64(c.Submits))))
}

func usdText(v float64) string { return fmt.Sprintf("$%.3f", v) }

func TestMaxCostNeedsAPrice(t *testing.T) {
	srv := startSim(t, sim.Config{Model: "other/model", Catalog: []sim.CatalogModel{}})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	args := []string{"run", "--manifest", m, "--out", filepath.Join(dir, "out"), "--model", "other/model", "--max-cost", "1"}
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), args...)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--max-cost needs the price of a job")
	assert.Zero(t, srv.Counters().Submits)

	code, _, stderr = invoke(t, tokenEnv(srv.APIURL), append(args, "--price", "0.25")...)
	assert.Equal(t, exitTempFail, code, stderr)
	assert.EqualValues(t, 4, srv.Counters().Submits, "--price prices the jobs")
}

func TestBalanceCheckBeforeRun(t *testing.T) {
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())

	// Six jobs at $0.044 are $0.264; the account holds $0.10.
	srv := startSim(t, sim.Config{BalanceUSD: 0.1})
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "a"), "--require-balance")
	assert.Equal(t, exitNoPerm, code)
	assert.Contains(t, stderr, "balance $0.10 is below the estimated cost $0.264 of the 6 rows left (--require-balance); nothing was sent")
	assert.Zero(t, srv.Counters().Submits)

	// Without --require-balance: a warning with both figures, and the run
	// goes on until the API refuses (400002).
	code, _, stderr = invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "b"))
	assert.Equal(t, exitNoPerm, code, stderr)
	assert.Contains(t, stderr, "balance $0.10 is below the estimated cost $0.264 of the 6 rows left")
	assert.EqualValues(t, 2, srv.Counters().Submits)

	// A balance endpoint that fails is a warning, never a stop.
	rich := startSim(t, sim.Config{})
	env := tokenEnv(rich.APIURL)
	env["RUNCOMFY_BALANCE_BASE"] = "http://127.0.0.1:1"
	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "c"), "--require-balance", "--progress", "off")
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "balance unknown")
	assert.EqualValues(t, 6, rich.Counters().Submits)
}
