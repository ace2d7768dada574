package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pikabatch/pikabatch/runner/sim"
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
	assert.Contains(t, stderr, "balance -$5.25 is below the estimated cost $0.30 of the 6 rows left (--require-balance); nothing was sent")
	assert.Zero(t, srv.Counters().Submits)
}
