package main

import (
	"bytes"
	"context"
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
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// Issue #14, "exit codes and messages": a summary never contradicts itself.

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
		assert.NotContains(t, out, "held")
	})
	t.Run("unknown status words and parked jobs", func(t *testing.T) {
		out := print(runner.Summary{Rows: 5, Parked: 1, LeftInFlight: 1, StatusWords: map[string]int{"starting": 3, "pending": 2},
			Final: map[store.State]int{}})
		assert.Contains(t, out, `status words outside the API's docs (jobs taken as still running): "pending" 2, "starting" 3`)
		assert.Contains(t, out, "left in flight for the next run 1")
	})
	t.Run("failure reasons most frequent first, the rest last", func(t *testing.T) {
		out := print(runner.Summary{Rows: 30, Failed: 30, Final: map[store.State]int{},
			FailReasons: map[string]int{"b rare": 2, runner.OtherReasons: 20, "a common": 8}})
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
	o.concurrency = 1
	lr := startLiveRun(t, o, 1)
	require.True(t, errors.Is(lr.stop(t), context.Canceled))
	out := lr.stdout.String()
	assert.Contains(t, out, "rows 50: 0 done")
	assert.Contains(t, out, "left in flight 1, not submitted 49")
}

func TestUnknownModelExitsUsage(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("model %q: %w", "pika/nope", fmt.Errorf("submit: error_code 400001: %w", api.ErrUnknownModel))
	assert.Equal(t, exitUsage, exitCode(context.Background(), err))
	assert.Equal(t, exitTempFail, exitCode(context.Background(), fmt.Errorf("1 jobs: %w", runner.ErrLeftInFlight)))
}

// Issue #14 item 13: flags that hung a run or meant something else.
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
		assert.NoError(t, checkRPS(mustFloat(t, rps)), rps)
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
	printStatus(&b, live.Status{StateFile: "out/.pikabatch.db", Live: &live.RunInfo{
		ThisRun: runner.Summary{StatusWords: map[string]int{"starting": 4}}}})
	assert.Contains(t, b.String(), `status words outside the API's docs (jobs taken as still running): "starting" 4`)
}
