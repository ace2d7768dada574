package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
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
	assert.Contains(t, stdout, "; budget $0.132, $0.000 left\n")
	assert.Contains(t, stdout, "the budget counted $0.132 this run, $0.132 in all of $0.132; $0.000 left\n")
	assert.Contains(t, stderr, "budget reached: $0.132 of $0.132 spent; ")
	c := srv.Counters()
	assert.EqualValues(t, 3, c.Submits, "every send is paid: lost answers and their re-sends included")
	assert.InDelta(t, 0.132, c.SpentUSD, 1e-9)
	lostFirst := c.LostResponses

	code, stdout, stderr = invoke(t, env, append(args, "--max-cost", "0.22")...)
	assert.Equal(t, exitTempFail, code, stderr)
	assert.Contains(t, stdout, "; budget $0.220, $0.000 left\n")
	assert.Contains(t, stdout, "the budget counted $0.088 this run, $0.220 in all of $0.220; $0.000 left\n")
	c = srv.Counters()
	assert.EqualValues(t, 5, c.Submits)
	assert.Positive(t, c.LostResponses, "the test needs an uncertain submit (seed)")
	t.Logf("lost answers: %d in the first run, %d in all", lostFirst, c.LostResponses)

	// No flag: the recorded budget holds.
	code, stdout, stderr = invoke(t, env, args...)
	assert.Equal(t, exitTempFail, code, stderr)
	assert.Contains(t, stdout, "$0.220 in all of $0.220; $0.000 left\n")
	assert.EqualValues(t, 5, srv.Counters().Submits, "nothing more sent")

	code, stdout, stderr = invoke(t, env, append(args, "--max-cost", "1")...)
	require.Equal(t, exitOK, code, stderr)
	c = srv.Counters()
	assert.GreaterOrEqual(t, c.Submits, int64(6))
	assert.Contains(t, stdout, fmt.Sprintf("in all of $1.000; %s left\n", usdText(1-0.044*float64(c.Submits))))
}

func usdText(v float64) string { return fmt.Sprintf("$%.3f", v) }

func TestMaxCostNeedsAPrice(t *testing.T) {
	// A catalog entry whose unit is not one pikabatch knows: no price.
	pika := sim.DefaultCatalog()[0]
	pika.ID, pika.PriceUnit = "other/model", "megapixel"
	srv := startSim(t, sim.Config{Model: "other/model", Catalog: []sim.CatalogModel{pika}})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	args := []string{"run", "--manifest", m, "--out", filepath.Join(dir, "out"), "--model", "other/model", "--max-cost", "1"}
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), args...)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `--max-cost needs the price of a job: base $0.0088, unknown unit "megapixel" (unknown unit "megapixel"); set --price USD`)
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
	assert.Contains(t, stderr, "balance $0.100 is below the estimated cost $0.264 of the 6 rows left (--require-balance); nothing was sent")
	assert.Zero(t, srv.Counters().Submits)

	// Without --require-balance: a warning with both figures, and the run
	// goes on until the API refuses (400002).
	code, _, stderr = invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "b"))
	assert.Equal(t, exitNoPerm, code, stderr)
	assert.Contains(t, stderr, "balance $0.100 is below the estimated cost $0.264 of the 6 rows left")
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

// TestSchemaRecordedAtFirstUse: run records the catalog's input schema in
// the state file; a later run with the catalog gone uses it. A model the
// catalog does not know, with nothing recorded, stops before any submit.
func TestSchemaRecordedAtFirstUse(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	out := filepath.Join(dir, "out")
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out, "--progress", "off")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "input schema recorded in the state file")

	st, err := store.Open(filepath.Join(out, ".pikabatch.db"), store.Options{ReadOnly: true})
	require.NoError(t, err)
	rec, err := st.Meta(t.Context(), batch.InputSchemaMetaKey)
	require.NoError(t, st.Close())
	require.NoError(t, err)
	assert.JSONEq(t, string(sim.DefaultCatalog()[0].InputSchema), rec)

	// End to end: a model the catalog does not know stops before a submit.
	code, _, stderr = invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "other"), "--model", "org/unknown")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "model org/unknown: model not in the catalog")
	assert.EqualValues(t, 6, srv.Counters().Submits, "only the first run's")
}

// TestRealSpend: the cost each result reports is recorded per job and
// shown in the summary (this run and in all), status, results.jsonl and
// the CSV export; without one the summary falls back to the estimate,
// marked as such.
func TestRealSpend(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	out := filepath.Join(dir, "out")
	env := tokenEnv(srv.APIURL)
	code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--progress", "off")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "spent $0.264: $0.264 reported by the API for 6 jobs, $0.000 estimated for 0 jobs\n")
	assert.Contains(t, stdout, "this run's spend: $0.264 as the API reported it\n")

	idx, err := os.ReadFile(filepath.Join(out, "results.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, 6, strings.Count(string(idx), `"cost_usd":0.044`), "%s", idx)

	code, stdout, _ = invoke(t, env, "status", "--out", out)
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "  spent $0.264: $0.264 reported by the API for 6 jobs, $0.000 estimated for 0 jobs\n")
	code, stdout, _ = invoke(t, env, "export", "--out", out, "--format", "csv")
	require.Equal(t, exitOK, code)
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 7)
	col := slices.Index(recs[0], "cost_usd")
	require.Positive(t, col)
	assert.Equal(t, "0.044", recs[1][col])

	// A run over more rows: three new, three already done.
	m2 := writeFile(t, filepath.Join(dir, "m2.csv"), budgetRows()+"r6,https://img.example.com/6.jpg,x\nr7,https://img.example.com/7.jpg,y\nr8,https://img.example.com/8.jpg,z\n")
	code, stdout, stderr = invoke(t, env, "run", "--manifest", m2, "--out", out, "--progress", "off")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "spent $0.396: $0.396 reported by the API for 9 jobs, $0.000 estimated for 0 jobs\n")
	assert.Contains(t, stdout, "this run's spend: $0.132 as the API reported it\n")

	// An API that reports no cost: the estimate, marked.
	quiet := startSim(t, sim.Config{NoCost: true})
	code, stdout, stderr = invoke(t, tokenEnv(quiet.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "quiet"), "--progress", "off")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "spent $0.264: $0.000 reported by the API for 0 jobs, $0.264 estimated for 6 jobs\n")
	code, stdout, _ = invoke(t, tokenEnv(quiet.APIURL), "status", "--out", filepath.Join(dir, "quiet"))
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "  spent $0.264: $0.000 reported by the API for 0 jobs, $0.264 estimated for 6 jobs\n")
	assert.Contains(t, stdout, "  estimates at the price the state file recorded (base $0.0088/second)\n")

	// The estimate, marked, with the catalog gone: the state recorded
	// the price at first use.
	quiet.Close()
	code, stdout, _ = invoke(t, tokenEnv(quiet.APIURL), "status", "--out", filepath.Join(dir, "quiet"), "--json")
	require.Equal(t, exitOK, code)
	var st statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &st))
	require.Len(t, st.Batches, 1)
	assert.Equal(t, account.Dollars(0.264), st.Batches[0].EstimatedCostUSD)
	assert.Equal(t, 6, st.Batches[0].EstimatedCostJobs)
	assert.Equal(t, "base $0.0088/second", st.Batches[0].EstimateBasis)
	idx, err = os.ReadFile(filepath.Join(dir, "quiet", "results.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, 6, strings.Count(string(idx), `"cost_estimated_usd":0.044`), "%s", idx)
	assert.NotContains(t, string(idx), `"cost_usd"`, "an estimate is never shown as reported")
	code, stdout, _ = invoke(t, env, "export", "--out", filepath.Join(dir, "quiet"), "--format", "csv")
	require.Equal(t, exitOK, code)
	recs, err = csv.NewReader(strings.NewReader(stdout)).ReadAll()
	require.NoError(t, err)
	col = slices.Index(recs[0], "cost_estimated_usd")
	require.Positive(t, col)
	assert.Equal(t, "0.044", recs[1][col])
	assert.Empty(t, recs[1][slices.Index(recs[0], "cost_usd")])
}

// TestBalanceCheckCountsWhatIsLeft: a batch resumed with every row done
// and a balance below the whole manifest's estimate is checked from the
// state's counts, with no plan pass over the manifest (a million-row
// re-run spent about 10 s planning to find nothing left), and a row added
// since still costs what it costs.
func TestBalanceCheckCountsWhatIsLeft(t *testing.T) {
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	out := filepath.Join(dir, "out")
	srv := startSim(t, sim.Config{})
	env := tokenEnv(srv.APIURL)
	code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--progress", "off")
	require.Equal(t, exitOK, code, stderr)

	// $0.10 pays for 2 of the 6 rows, and nothing is left to send.
	srv.SetBalanceUSD(0.1)
	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", out, "--require-balance", "--progress", "off", "--log-level", "debug")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "balance covers the rows left")
	assert.NotContains(t, stderr, "below the estimated cost")

	// Three new rows at $0.044 are $0.132: more than $0.10.
	rows := budgetRows() + "n1,https://img.example.com/n1.jpg,new one\nn2,https://img.example.com/n2.jpg,new two\nn3,https://img.example.com/n3.jpg,new three\n"
	m2 := writeFile(t, filepath.Join(dir, "m2.csv"), rows)
	code, _, stderr = invoke(t, env, "run", "--manifest", m2, "--out", out, "--require-balance", "--progress", "off")
	assert.Equal(t, exitNoPerm, code, stderr)
	assert.Contains(t, stderr, "balance $0.100 is below the estimated cost $0.132 of the 3 rows left")
}
