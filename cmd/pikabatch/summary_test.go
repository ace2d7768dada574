package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/reasons"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// A summary never contradicts itself.

func TestSummaryMessages(t *testing.T) {
	t.Parallel()
	print := func(s runner.Summary) string {
		var b bytes.Buffer
		printSummary(&b, s, api.Calls{}, false)
		return b.String()
	}
	t.Run("rows held from an earlier run are not this run's uncertain submits", func(t *testing.T) {
		out := print(runner.Summary{Rows: 20, Held: 15, NotSubmitted: 5, Final: map[store.State]int{}})
		assert.NotContains(t, out, "uncertain submits 0")
		assert.NotContains(t, out, "duplicate charges")
		assert.Contains(t, out, "held 15: rows whose submit's answer was lost (this run or before)")
	})
	t.Run("re-sends are the possible duplicate charges", func(t *testing.T) {
		out := print(runner.Summary{Rows: 5, Uncertain: 2, Resent: 2, Final: map[store.State]int{}})
		assert.Contains(t, out, "submits whose answer was lost: 2 this run; re-sent 2 (up to 2 duplicate charges)")
		assert.NotContains(t, out, "\nheld ")
	})
	t.Run("unknown status words and parked jobs", func(t *testing.T) {
		out := print(runner.Summary{Rows: 5, Parked: 1, LeftInFlight: 1, StatusWords: map[string]int{"starting": 3, "pending": 2},
			Final: map[store.State]int{}})
		assert.Contains(t, out, `status words outside the API's docs (jobs taken as still running): "pending" 2, "starting" 3`)
		assert.Contains(t, out, "left in flight for the next run 1")
	})
	t.Run("failure reasons most frequent first, the rest last", func(t *testing.T) {
		out := print(runner.Summary{Rows: 30, Failed: 30, Final: map[store.State]int{},
			FailReasons: map[string]int{"b rare": 2, reasons.Other: 20, "a common": 8}})
		assert.Contains(t, out, "  failed    8  a common\n  failed    2  b rare\n  failed   20  (other)\n")
	})
}

func TestSummaryCountsTheWholeManifest(t *testing.T) {
	srv := slowSim(t)
	dir := t.TempDir()
	var m strings.Builder
	m.WriteString("id,image\n")
	for i := range 50 {
		fmt.Fprintf(&m, "r%02d,https://img.example.com/%d.jpg\n", i, i)
	}
	path := writeFile(t, filepath.Join(dir, "m.csv"), m.String())
	o := testOptions(srv, path, filepath.Join(dir, "out"))
	o.cfg.Concurrency = 1
	lr := startLiveRun(t, o, 1)
	require.True(t, errors.Is(lr.stop(t), context.Canceled))
	out := lr.stdout.String()
	assert.Contains(t, out, "rows 50: 0 done")
	assert.Contains(t, out, "rows 50: 0 done, 0 failed, 0 cancelled, 1 in flight, 0 held, 49 not submitted\n")
}

// A resumed run names the rows that failed before,
// rather than "3 rows: some rows failed" alone.
func TestSummaryNamesRowsFailedInEarlierRuns(t *testing.T) {
	srv := startSim(t, sim.Config{Faults: sim.Faults{RateFail: 1}})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	env := tokenEnv(srv.APIURL)
	args := []string{"run", "--manifest", m, "--out", filepath.Join(dir, "out")}
	code, stdout, stderr := invoke(t, env, args...)
	require.Equal(t, exitFailedRows, code, stderr)
	assert.NotContains(t, stdout, "earlier runs", "this run's failures are listed by reason")

	code, stdout, stderr = invoke(t, env, args...)
	require.Equal(t, exitFailedRows, code, stderr)
	assert.Contains(t, stdout, "failed in earlier runs 3 (a, b, c): not submitted again; --retry-failed submits them again (each a new charge)")
	assert.EqualValues(t, 3, srv.Counters().Submits, "nothing submitted again")

	code, stdout, _ = invoke(t, env, append(args, "--json")...)
	require.Equal(t, exitFailedRows, code)
	var sum runner.Summary
	require.NoError(t, json.Unmarshal([]byte(stdout), &sum))
	assert.Equal(t, 3, sum.FailedBefore)
	assert.Equal(t, []string{"a", "b", "c"}, sum.FailedBeforeKeys)
}

// The account-limit hint only when a limit was learned.
func TestSummaryHintsOnlyWhatHeld(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	printSummary(&b, runner.Summary{Rows: 5, Final: map[store.State]int{}}, api.Calls{Retries: 9, RateLimited: 9}, false)
	assert.NotContains(t, b.String(), "account limit", "429s alone are no account limit")
	b.Reset()
	printSummary(&b, runner.Summary{Rows: 5, AccountJobs: 3, Final: map[store.State]int{}}, api.Calls{RateLimited: 2}, false)
	assert.Contains(t, b.String(), "--concurrency 3 spares the refusals")
	// Random 429s fell twice on one submit and passed for a limit of 7;
	// polls were refused too, so the 429s were a rate's.
	b.Reset()
	printSummary(&b, runner.Summary{Rows: 8, AccountJobs: 7, Final: map[store.State]int{}},
		api.Calls{RateLimited: 4, PollsRateLimited: 2}, false)
	assert.NotContains(t, b.String(), "account limit")
	assert.NotContains(t, b.String(), "--concurrency 7")
}

func TestUnknownModelExitsUsage(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("model %q: %w", "pika/nope", fmt.Errorf("submit: error_code 400001: %w", api.ErrUnknownModel))
	assert.Equal(t, exitUsage, exitCode(context.Background(), err))
	assert.Equal(t, exitTempFail, exitCode(context.Background(), fmt.Errorf("1 jobs: %w", runner.ErrLeftInFlight)))
}

// Flags that hung a run or meant something else are refused.
func TestRunFlagChecks(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	env := tokenEnv(srv.APIURL)
	for _, args := range [][]string{
		{"--rps", "1e-9"}, {"--rps", "NaN"}, {"--rps", "Inf"}, {"--rps", "-Inf"}, {"--rps", "-1"}, {"--rps", "0.001"},
		{"--job-timeout", "-5s"}, {"--deadline-grace", "-1s"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, stderr := invoke(t, env, append([]string{"run", "--manifest", m, "--out", filepath.Join(dir, "o")}, args...)...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, args[0])
		})
	}
	assert.Zero(t, srv.Counters().Submits, "nothing was sent")
	for _, rps := range []string{"0", "0.01", "10"} {
		assert.NoError(t, batch.CheckRPS(mustFloat(t, rps)), rps)
	}
	assert.Equal(t, time.Duration(-1), runnerGrace(0), "--deadline-grace 0 means none, not the runner's default")
	assert.Equal(t, 5*time.Minute, runnerGrace(5*time.Minute))
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return f
}

func TestStatusOfALiveRunShowsUnknownStatusWords(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	live.Status{StateFile: "out/.pikabatch.db", Live: &live.RunInfo{
		ThisRun: account.Figures{StatusWords: map[string]int{"starting": 4}}}}.WriteText(&b)
	assert.Contains(t, b.String(), `status words outside the API's docs (jobs taken as still running): "starting" 4`)
}
