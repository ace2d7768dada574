package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// pikaPricedAt is the simulator's catalog with the pika model at usd per
// unit: the tests of money state the price they rely on.
func pikaPricedAt(usd float64, unit string) []sim.CatalogModel {
	cat := sim.DefaultCatalog()
	for i := range cat {
		if cat[i].ID == sim.DefaultModel {
			cat[i].BasePriceUSD, cat[i].PriceUnit = usd, unit
		}
	}
	return cat
}

// TestAbsurdPriceRefusedBeforeAnySubmit: a price no job has (from --price
// or from the catalog) is refused with a clear error before anything is
// sent, rather than wrapping the budget's count and letting every submit
// fit.
func TestAbsurdPriceRefusedBeforeAnySubmit(t *testing.T) {
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())

	srv := startSim(t, sim.Config{Catalog: pikaPricedAt(0.044, sim.UnitOutput)})
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "a"),
		"--progress", "off", "--price", "1e13", "--max-cost", "0.5")
	assert.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "--price $1e+13 is above $10000.00")
	assert.Zero(t, srv.Counters().Submits)

	dear := startSim(t, sim.Config{Catalog: pikaPricedAt(1e13, sim.UnitOutput)})
	code, _, stderr = invoke(t, tokenEnv(dear.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "b"),
		"--progress", "off", "--max-cost", "0.5")
	assert.Equal(t, exitDataErr, code, stderr)
	assert.Contains(t, stderr, "the catalog's base price $1e+13 is above $10000.00")
	assert.Contains(t, stderr, "nothing was sent")
	assert.Zero(t, dear.Counters().Submits)
}

// TestRequireBalanceRefusesADebt: an account that owes (a balance below
// zero) is below what any priced batch needs; --require-balance refuses
// it before anything is sent, rather than reading it as unknown.
func TestRequireBalanceRefusesADebt(t *testing.T) {
	bal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"balance_usd": -5.25, "currency": "USD"}`)
	}))
	t.Cleanup(bal.Close)
	srv := startSim(t, sim.Config{Catalog: pikaPricedAt(0.05, sim.UnitOutput)})
	env := tokenEnv(srv.APIURL)
	env["RUNCOMFY_BALANCE_BASE"] = bal.URL
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "a"),
		"--progress", "off", "--require-balance")
	assert.Equal(t, exitNoPerm, code, stderr)
	assert.Contains(t, stderr, "balance -$5.250 is below the estimated cost $0.300 of the 6 rows left (--require-balance); nothing was sent")
	assert.Zero(t, srv.Counters().Submits)
}

// TestBudgetCountsWhatTheAPICharged: the API charges $0.044 a job while
// --price says $0.01; each finished job counts at the larger of the two, so
// --max-cost 0.1 stops after the job that takes the spend past it, and the
// budget says nothing is left. A later run counts the earlier jobs the same
// way, from the state.
func TestBudgetCountsWhatTheAPICharged(t *testing.T) {
	srv := startSim(t, sim.Config{Catalog: pikaPricedAt(0.044, sim.UnitOutput)})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	args := []string{"run", "--manifest", m, "--out", filepath.Join(dir, "out"), "--progress", "off",
		"--concurrency", "1", "--price", "0.01", "--max-cost", "0.1"}
	code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), args...)
	assert.Equal(t, exitTempFail, code, stderr)
	assert.EqualValues(t, 3, srv.Counters().Submits, "two jobs charged $0.088; the third takes it past $0.10")
	assert.Contains(t, stdout, "budget $0.100, $0.000 left\n")

	code, stdout, stderr = invoke(t, tokenEnv(srv.APIURL), args...)
	assert.Equal(t, exitTempFail, code, stderr)
	assert.EqualValues(t, 3, srv.Counters().Submits, "the next run counts what the API charged")
	assert.Contains(t, stdout, "budget $0.100, $0.000 left\n")
}

// TestZeroPriceWithBudgetWarns: a price of $0 lets the budget count only
// what the API reports once jobs finish; the run says so.
func TestZeroPriceWithBudgetWarns(t *testing.T) {
	srv := startSim(t, sim.Config{Catalog: pikaPricedAt(0, sim.UnitOutput)})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "out"),
		"--progress", "off", "--max-cost", "0.1")
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "the price of a job is $0.00")
}

// TestBudgetReachedIsTheNormalEnd: reaching --max-cost is how a budgeted
// run ends, not a crash: no ERROR, one line with what was spent, how many
// rows wait and how to go on, and exit 75 (run again later).
func TestBudgetReachedIsTheNormalEnd(t *testing.T) {
	srv := startSim(t, sim.Config{Catalog: pikaPricedAt(0.044, sim.UnitOutput)})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "out"),
		"--progress", "off", "--concurrency", "1", "--max-cost", "0.1")
	assert.Equal(t, exitTempFail, code, stderr)
	assert.NotContains(t, stderr, "level=ERROR")
	assert.NotContains(t, stderr, "level=WARN")
	line := "pikabatch: budget reached: $0.088 of $0.100 spent; 4 rows wait; to go on, run again with --max-cost 0.264 (their estimate added)\n"
	assert.Contains(t, stderr, line)
	assert.Equal(t, 1, strings.Count(stderr, "budget reached"), stderr)
}

// TestDryRunUsesTheRecordedPriceAndBudget: the preview of a batch that
// recorded its price and budget estimates with them, and says the run
// would stop at the budget, with no --price or --catalog given.
func TestDryRunUsesTheRecordedPriceAndBudget(t *testing.T) {
	srv := startSim(t, sim.Config{Catalog: pikaPricedAt(0.044, sim.UnitOutput)})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	args := []string{"run", "--manifest", m, "--out", filepath.Join(dir, "out"), "--progress", "off"}
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), append(args, "--concurrency", "1", "--max-cost", "0.1")...)
	require.Equal(t, exitTempFail, code, stderr)

	code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), append(args, "--dry-run")...)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "estimated cost: $0.176 for 4 rows (base $0.044/output)\n  (the price recorded in the state file)\n")
	assert.Contains(t, stdout, "budget: $0.088 of $0.100 spent (recorded in the state file); the run would stop at it with about 4 rows unsent (raise --max-cost to 0.264 to submit them all)")
	assert.EqualValues(t, 2, srv.Counters().Submits, "a dry run sends nothing")
}

// TestRecoverKeepsReportedCosts: a state rebuilt from results.jsonl keeps
// the cost the API reported for each job, so the spend reads as reported,
// not re-estimated.
func TestRecoverKeepsReportedCosts(t *testing.T) {
	srv := startSim(t, sim.Config{Catalog: pikaPricedAt(0.05, sim.UnitOutput)})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	out := filepath.Join(dir, "out")
	args := []string{"run", "--manifest", m, "--out", out, "--progress", "off"}
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), args...)
	require.Equal(t, exitOK, code, stderr)

	require.NoError(t, os.Remove(filepath.Join(out, ".pikabatch.db")))
	code, _, stderr = invoke(t, tokenEnv(srv.APIURL), "recover", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), args...)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "spent $0.300: $0.300 reported by the API for 6 jobs, $0.000 estimated for 0 jobs\n")
	assert.EqualValues(t, 6, srv.Counters().Submits)
}

// TestAbsurdReportedCosts: a state whose jobs carry a reported cost no job
// has (1e308, whose sums are +Inf) still reads: such a cost counts as
// unreported, status --json prints, the text has no $+Inf, and the report
// is written.
func TestAbsurdReportedCosts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".pikabatch.db")
	st, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	huge := 1e308
	for _, k := range []string{"a", "b"} {
		require.NoError(t, st.Put(context.Background(), store.Job{Key: k, ParamHash: "h-" + k, Input: json.RawMessage(`{}`),
			State: store.StateFailed, RequestID: "req-" + k, Attempts: 1, CostUSD: &huge}))
	}
	require.NoError(t, st.Close())

	code, stdout, stderr := invoke(t, nil, "status", "--out", dir, "--json")
	require.Equal(t, exitOK, code, stderr)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &got), "status --json printed %q", stdout)

	code, stdout, stderr = invoke(t, nil, "status", "--out", dir)
	require.Equal(t, exitOK, code, stderr)
	assert.NotContains(t, stdout, "Inf")

	code, _, stderr = invoke(t, nil, "report", "--out", dir)
	assert.Equal(t, exitOK, code, stderr)
}

// TestWriteJSONSaysWhenItCannotPrint: a figure JSON cannot hold is an
// error the command returns, never an empty answer and exit 0.
func TestWriteJSONSaysWhenItCannotPrint(t *testing.T) {
	var b strings.Builder
	err := writeJSON(&b, map[string]float64{"usd": math.Inf(1)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot print")
}

// TestAbsurdRowEstimateRefusedBeforeAnySubmit: one row whose duration
// makes its estimate absurd stops the run before anything is sent, naming
// the row, rather than overflowing the budget.
func TestAbsurdRowEstimateRefusedBeforeAnySubmit(t *testing.T) {
	cat := sim.DefaultCatalog()
	for i := range cat {
		if cat[i].ID == sim.TextToVideoModel {
			cat[i].BasePriceUSD, cat[i].PriceUnit = 0.02, sim.UnitSecond
			cat[i].InputSchema = json.RawMessage(`{"type":"object","required":["prompt"],"properties":{` +
				`"prompt":{"type":"string"},"duration":{"type":"integer","minimum":1,"default":5}}}`)
		}
	}
	srv := startSim(t, sim.Config{Catalog: cat})
	dir := t.TempDir()
	var rows strings.Builder
	rows.WriteString("id,prompt,duration\n")
	for i := range 20 {
		fmt.Fprintf(&rows, "r%d,waves %d,5\n", i, i)
	}
	rows.WriteString("huge,storm,1000000000000000\n")
	m := writeFile(t, filepath.Join(dir, "m.csv"), rows.String())
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "out"),
		"--model", sim.TextToVideoModel, "--progress", "off", "--max-cost", "0.5")
	assert.Equal(t, exitDataErr, code, stderr)
	assert.Contains(t, stderr, `row "huge" (line 22): absurd price: the estimate of one job $2e+13 is above $10000.00`)
	assert.Zero(t, srv.Counters().Submits)
}
