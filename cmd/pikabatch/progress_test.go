package main

import (
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

func TestPlainProgressOffTerminal(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	env := tokenEnv(srv.APIURL)
	code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out"))
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "pikabatch: progress 3/3 rows finished: 3 done · 0 failed · 0 cancelled · 0 in flight · 0 held · 0 not submitted · this run 3 submitted, 3 downloaded")
	for _, c := range []string{"\x1b", "\r"} {
		assert.NotContains(t, stderr+stdout, c, "no control characters off a terminal")
	}

	// With JSON logs, progress is a log record too: every stderr line parses.
	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out2"), "--log-format", "json")
	require.Equal(t, exitOK, code, stderr)
	var progress []map[string]any
	for line := range strings.Lines(stderr) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "not JSON: %q", line)
		if rec["msg"] == "progress" {
			progress = append(progress, rec)
		}
	}
	require.NotEmpty(t, progress, "the final progress record")
	last := progress[len(progress)-1]
	assert.EqualValues(t, 3, last["rows"])
	assert.EqualValues(t, 3, last["done"])
	assert.EqualValues(t, 3, last["downloaded"])
}

// Retries are a count in the progress and the summary,
// each one logged at debug level, not a WARN line apiece.
func TestRetriesLogAtDebug(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 3, Faults: sim.Faults{Rate5xx: 0.3, RateTruncate: 0.5}})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	env := tokenEnv(srv.APIURL)
	code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out"))
	require.Equal(t, exitOK, code, stderr)
	require.Positive(t, srv.Counters().ServerErrors+srv.Counters().DownloadsTruncated, "faults met")
	assert.NotContains(t, stderr, "retrying api request")
	assert.NotContains(t, stderr, "download interrupted; retrying")
	assert.Regexp(t, `retries [1-9]`, stdout+stderr, "counted")

	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out2"), "--log-level", "debug")
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `level=DEBUG msg="(retrying api request|download interrupted; retrying)"`, stderr)
}

// TestProgressModeUsage: a --progress the display does not know is a
// usage error (exit 64) naming the flag and the modes.
func TestProgressModeUsage(t *testing.T) {
	t.Parallel()
	_, err := progressMode("fancy", false, io.Discard)
	var ue *usageError
	require.ErrorAs(t, err, &ue)
	assert.EqualError(t, err, `--progress must be auto, bar, plain or off, not "fancy"`)
}
