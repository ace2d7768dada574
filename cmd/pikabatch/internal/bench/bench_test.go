package bench

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

func TestMedianAndQuantile(t *testing.T) {
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	assert.True(t, math.IsNaN(median(nil)))
	in := []float64{5, 1, 4}
	median(in)
	assert.Equal(t, []float64{5, 1, 4}, in, "the runs keep their order")

	sorted := []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	assert.Equal(t, 50.0, quantile(sorted, 0.5))
	assert.Equal(t, 90.0, quantile(sorted, 0.9))
	assert.Equal(t, 100.0, quantile(sorted, 1))
	assert.Equal(t, 10.0, quantile(sorted, 0))
}

func TestTargets(t *testing.T) {
	upper := Target{AtMost: true, Limit: 150}
	assert.True(t, upper.Met(150))
	assert.False(t, upper.Met(151))
	lower := Target{Limit: 1000}
	assert.True(t, lower.Met(1000))
	assert.False(t, lower.Met(999))
	assert.Equal(t, "≤ 150", upper.String())
	assert.Equal(t, "≥ 1000 (report)", Target{Limit: 1000, ReportOnly: true}.String())
	assert.True(t, Figure{}.Met(), "no target: nothing to miss")
}

func TestWriteMarkdownFlagsMisses(t *testing.T) {
	res := []Result{{Scenario: "s", Figures: []Figure{
		{Name: "a", Median: 2, Runs: []float64{2}, Target: &Target{AtMost: true, Limit: 1}},
		{Name: "b", Median: 2, Runs: []float64{2}, Target: &Target{AtMost: true, Limit: 1, ReportOnly: true}},
	}}}
	var b bytes.Buffer
	WriteMarkdown(&b, res)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 4)
	assert.Contains(t, lines[2], "**missed**")
	assert.NotContains(t, lines[3], "missed", "a report-only target is reported, not missed")
}

func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tl := timelineOf([]sim.JobInfo{
		{State: sim.StateCompleted, CreatedAt: at(0), FinishedAt: at(2000), FirstDownloadAt: at(2010)},
		{State: sim.StateCompleted, CreatedAt: at(5), FinishedAt: at(4000), FirstDownloadAt: at(4030)},
		{State: sim.StateFailed, CreatedAt: at(10), FinishedAt: at(4100)},
	})
	assert.Equal(t, 4100*time.Millisecond, tl.makespan, "first submit to last finish, failed jobs included")
	assert.Equal(t, []float64{10, 30}, tl.pickupMS)
}

func TestAchievedRate(t *testing.T) {
	t0 := time.Now()
	var reqs []arrival
	for i := range 11 {
		reqs = append(reqs, arrival{at: t0.Add(time.Duration(i) * 100 * time.Millisecond), submit: i%2 == 0})
	}
	reqs = append(reqs, arrival{at: t0.Add(5 * time.Second)}) // polls after the last submit do not count
	assert.InDelta(t, 10.0, achievedRate(reqs), 1e-9)
	assert.True(t, math.IsNaN(achievedRate(reqs[:1])))
}

func TestReadVmHWM(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "status")
	require.NoError(t, os.WriteFile(p, []byte("Name:\tpikabatch\nVmPeak:\t  999 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 100 kB\n"), 0o644))
	v, ok := readVmHWM(p)
	require.True(t, ok)
	assert.Equal(t, int64(12345)<<10, v)

	require.NoError(t, os.WriteFile(p, []byte("Name:\tzombie\nState:\tZ (zombie)\n"), 0o644))
	_, ok = readVmHWM(p)
	assert.False(t, ok, "an exited process has no memory to report")
	_, ok = readVmHWM(filepath.Join(dir, "missing"))
	assert.False(t, ok)
}

func TestWatchPeakRSSOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system: peak RSS is reported as 0 here")
	}
	stop := watchPeakRSS(os.Getpid())
	peak := stop()
	assert.Positive(t, peak, "the first sample is taken at once")
}

func TestUnknownScenario(t *testing.T) {
	_, err := Run(t.Context(), Config{Exe: "/bin/true", Only: []string{"nope"}})
	assert.ErrorIs(t, err, ErrUnknownScenario)
	assert.Contains(t, err.Error(), "overhead", "the error lists the scenarios")
}
