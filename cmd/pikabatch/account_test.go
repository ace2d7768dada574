package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// submitGate passes the first n submits to the API behind it and refuses
// every later one for an hour (429, Retry-After): the rows after the n-th
// wait for their submit when the deadline stops the run.
func submitGate(t *testing.T, apiURL string, n int64) *httptest.Server {
	t.Helper()
	target, err := url.Parse(apiURL)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var submits atomic.Int64
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !strings.Contains(r.URL.Path, "/cancel") && submits.Add(1) > n {
			w.Header().Set("Retry-After", "3600")
			http.Error(w, `{"error":{"code":429001,"message":"slow down"}}`, http.StatusTooManyRequests)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)
	return gate
}

var ledgerLine = regexp.MustCompile(`rows (\d+): (\d+) done, (\d+) failed, (\d+) cancelled, (\d+) in flight, (\d+) held, (\d+) not submitted`)

// parseLedger reads the account line out of a command's output.
func parseLedger(t *testing.T, out string) account.Ledger {
	t.Helper()
	m := ledgerLine.FindStringSubmatch(out)
	require.NotNil(t, m, "no account line in:\n%s", out)
	n := make([]int, len(m))
	for i := 1; i < len(m); i++ {
		n[i], _ = strconv.Atoi(m[i])
	}
	return account.Ledger{Rows: n[1], Done: n[2], Failed: n[3], Cancelled: n[4], InFlight: n[5], Held: n[6], NotSubmitted: n[7]}
}

// TestOneAccountAfterADeadline: a batch of 40 rows stopped by --deadline
// with 16 rows touched (8 sent, 8 more being sent) is told the same way by every surface — the run's
// summary, its exit line, the notify payload (run --json's figures),
// status in text and JSON, and report — and the rows add up to 40.
func TestOneAccountAfterADeadline(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 7, Faults: sim.Faults{RateFail: 0.15, RateNeverFinish: 0.2}})
	gate := submitGate(t, srv.APIURL, 8)
	got := make(chan notifyPayload, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p notifyPayload
		b, _ := io.ReadAll(r.Body)
		if assert.NoError(t, json.Unmarshal(b, &p)) {
			got <- p
		}
	}))
	t.Cleanup(hook.Close)

	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,image,promptText\n")
	for i := range 40 {
		fmt.Fprintf(&b, "r%02d,https://img.example.com/%d.jpg,waves %d\n", i, i, i)
	}
	m := writeFile(t, filepath.Join(dir, "m.csv"), b.String())
	out := filepath.Join(dir, "out")
	env := tokenEnv(gate.URL)
	env["PIKABATCH_NOTIFY_URL"] = ""
	code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--concurrency", "8",
		"--price", "0.044", "--max-cost", "5", "--deadline", "2s", "--deadline-grace", "0",
		"--notify-url", hook.URL, "--quiet")
	require.Equal(t, exitTempFail, code, stderr)

	// The summary: every row placed once, in one vocabulary.
	want := parseLedger(t, stdout)
	assert.Equal(t, 40, want.Rows)
	assert.Equal(t, 40, want.Counted(), "the outcomes add up to the manifest's rows")
	assert.LessOrEqual(t, want.Finished()+want.InFlight+want.Held, 8+8, "8 submits answered, at most 8 more waiting at the gate")
	assert.GreaterOrEqual(t, want.NotSubmitted, 40-8-8)
	wantSpend := account.Spend{}

	// The exit line counts the same rows unfinished.
	assert.Contains(t, stderr, fmt.Sprintf("pikabatch: %d rows not finished", want.Unfinished()))

	// The notify payload, run --json's figures: the account, and a final
	// that sums to the manifest's rows.
	p := <-got
	wantSpend = p.Summary.Account.Spend
	want.Spend = wantSpend
	assert.Equal(t, want, p.Summary.Account)
	assert.Equal(t, 40, p.Summary.Rows)
	final := 0
	for _, n := range p.Summary.Final {
		final += n
	}
	assert.Equal(t, 40, final)
	assert.Contains(t, p.Text, want.String())
	assert.Equal(t, account.Dollars(5), wantSpend.BudgetUSD)
	assert.Positive(t, wantSpend.ReportedJobs+wantSpend.EstimatedJobs, "something was sent at a cost")
	if spend := wantSpend.String(); assert.NotEmpty(t, spend) {
		assert.Contains(t, stdout, spend+"\n", "the summary's spend")
		assert.Contains(t, p.Text, spend)
	}

	// status, from the state file.
	code, text, stderr := invoke(t, nil, "status", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, want.String(), parseLedger(t, text).String())
	assert.Contains(t, text, "  "+wantSpend.String()+"\n")

	code, raw, stderr := invoke(t, nil, "status", "--out", out, "--json")
	require.Equal(t, exitOK, code, stderr)
	var st struct {
		Account account.Ledger `json:"account"`
		Batches []struct {
			Account account.Ledger `json:"account"`
		} `json:"batches"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &st), raw)
	require.Len(t, st.Batches, 1)
	assert.Equal(t, want, st.Batches[0].Account)
	assert.Equal(t, want, st.Account)

	// report.
	code, rep, stderr := invoke(t, nil, "report", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, want.String(), parseLedger(t, rep).String())
	assert.Contains(t, rep, wantSpend.String()+"\n")
}

// TestMoneyInJSONIsRounded: ten jobs the API reported at $0.044 each are
// $0.44 in status --json, not the float sum 0.4399999999999999.
func TestMoneyInJSONIsRounded(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,image,promptText\n")
	for i := range 10 {
		fmt.Fprintf(&b, "r%d,https://img.example.com/%d.jpg,waves %d\n", i, i, i)
	}
	m := writeFile(t, filepath.Join(dir, "m.csv"), b.String())
	out := filepath.Join(dir, "out")
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out, "--quiet")
	require.Equal(t, exitOK, code, stderr)

	code, raw, stderr := invoke(t, nil, "status", "--out", out, "--json")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, raw, `"cost_usd": 0.44,`)
	assert.Contains(t, raw, `"reported_usd": 0.44,`)
	assert.NotRegexp(t, `\d\.\d{7,}`, raw, "no dollar amount with more than six decimals")
}

// TestOneAccountOverShards: each shard records its own rows, and status
// over the folder adds the shards' accounts up to the manifest's rows,
// counting the rows no shard reached as not submitted.
func TestOneAccountOverShards(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,image,promptText\n")
	for i := range 20 {
		fmt.Fprintf(&b, "r%02d,https://img.example.com/%d.jpg,waves %d\n", i, i, i)
	}
	m := writeFile(t, filepath.Join(dir, "m.csv"), b.String())
	out := filepath.Join(dir, "out")
	shardRows := 0
	for k := range 2 {
		code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out,
			"--shard", fmt.Sprintf("%d/2", k), "--max-submits", "3", "--quiet")
		require.Equal(t, exitTempFail, code, stderr)
		l := parseLedger(t, stdout)
		assert.Equal(t, l.Rows, l.Counted())
		assert.Equal(t, 3, l.Done)
		shardRows += l.Rows
	}
	assert.Equal(t, 20, shardRows, "the shards' rows are the manifest's")

	code, text, stderr := invoke(t, nil, "status", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, text, "all 2 readable state files: rows 20: 6 done, 0 failed, 0 cancelled, 0 in flight, 0 held, 14 not submitted\n")
}
