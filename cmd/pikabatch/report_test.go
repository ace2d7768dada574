package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/report"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// reportPage is the data block of a report.html: its rows (the fields the
// test reads) and summary.
type reportPage struct {
	Rows []struct {
		Key    string      `json:"key"`
		State  store.State `json:"state"`
		Videos []struct {
			Src string `json:"src"`
		} `json:"videos"`
	} `json:"rows"`
	Summary report.Summary `json:"summary"`
}

func readReport(t *testing.T, out string) reportPage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, report.FileName))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), `<script type="application/json" id="report-data">`)
	require.True(t, ok)
	data, _, ok := strings.Cut(rest, "</script>")
	require.True(t, ok)
	var p reportPage
	require.NoError(t, json.Unmarshal([]byte(data), &p))
	return p
}

func TestReport(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 7, Faults: sim.Faults{RateFail: 0.4}})
	dir := t.TempDir()
	var m strings.Builder
	m.WriteString("id,image,promptText,seed\n")
	for i := range 12 {
		fmt.Fprintf(&m, "r%02d,https://img.example.com/%d.jpg,\"waves, take %d\",%d\n", i, i, i, i)
	}
	manifestPath := writeFile(t, filepath.Join(dir, "m.csv"), m.String())
	out := filepath.Join(dir, "out")
	env := tokenEnv(srv.APIURL)
	code, _, stderr := invoke(t, env, "run", "--manifest", manifestPath, "--out", out)
	require.Contains(t, []int{exitOK, exitFailedRows}, code, stderr)

	code, stdout, stderr := invoke(t, nil, "report", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	p := readReport(t, out)

	// The report agrees with the batch's own index.
	want := map[string]results.Entry{}
	f, err := os.Open(filepath.Join(out, results.IndexFile))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, results.Scan(f, func(_ int, e results.Entry) error {
		want[e.Key] = e
		return nil
	}))
	require.Len(t, p.Rows, 12)
	done, failed := 0, 0
	for _, r := range p.Rows {
		e := want[r.Key]
		assert.Equal(t, e.State, r.State, r.Key)
		switch r.State {
		case store.StateDone:
			done++
			require.Len(t, r.Videos, 1, r.Key)
			assert.Equal(t, "./"+e.Files[0].Path, r.Videos[0].Src)
			assert.FileExists(t, filepath.Join(out, e.Files[0].Path))
		case store.StateFailed:
			failed++
		}
	}
	assert.Positive(t, failed, "the simulator failed some jobs")
	assert.Equal(t, done, p.Summary.Clips)
	assert.Equal(t, failed, p.Summary.Failed)
	assert.Equal(t, 12, p.Summary.Submits, "one submit per row")
	assert.False(t, p.Summary.Live)
	var spend float64
	priced := 0
	for _, e := range want {
		if e.CostUSD != nil {
			spend += *e.CostUSD
			priced++
		}
	}
	assert.Equal(t, priced, p.Summary.PricedJobs, "every job the API reported a cost for")
	assert.Positive(t, priced, "the simulator reports costs")
	assert.InDelta(t, spend, p.Summary.SpendUSD, 1e-6)
	assert.Contains(t, stdout, fmt.Sprintf("pikabatch: report of 12 jobs (%d clips, 12 submits) written to %s\nrows 12: %d done, %d failed, ",
		done, filepath.Join(out, report.FileName), done, failed))
	assert.Contains(t, stdout, fmt.Sprintf("%s reported by the API for %d jobs", money.USD(p.Summary.SpendUSD), priced))
	assert.Contains(t, stdout, "open file://")
}

func TestReportWhileLive(t *testing.T) {
	srv := slowSim(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	lr := startLiveRun(t, testOptions(srv, m, filepath.Join(dir, "out")), 3)

	code, _, stderr := invoke(t, nil, "report", "--out", lr.out)
	require.Equal(t, exitOK, code, stderr)
	p := readReport(t, lr.out)
	assert.Equal(t, 3, p.Summary.Jobs, "read through the live run's socket")
	assert.True(t, p.Summary.Live, "the page says it is a snapshot")
	require.True(t, errors.Is(lr.stop(t), context.Canceled))
}

func TestReportUsage(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := invoke(t, nil, "report")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `required flag(s) "out" not set`)
	code, _, _ = invoke(t, nil, "report", "--state", filepath.Join(dir, "s.db"))
	assert.Equal(t, exitUsage, code, "--state alone: no folder to write to")
	code, _, _ = invoke(t, nil, "report", "--out", filepath.Join(dir, "nothing-here"))
	assert.Equal(t, exitUsage, code, "no run has started there")
	code, _, _ = invoke(t, nil, "report", "--out", dir, "extra")
	assert.Equal(t, exitUsage, code)
	code, stdout, _ := invoke(t, nil, "report", "--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "pikabatch report --out renders", "an example")
}
