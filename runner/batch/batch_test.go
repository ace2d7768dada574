package batch_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// TestMain fails the package's tests if a goroutine a run started is still
// running when they end: Run waits for what it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testToken = "test-token"

// setup starts the simulator and returns a run's Config against it: a
// manifest of rows rows in a temporary folder, logs to t.Log.
func setup(t *testing.T, rows int) (batch.Config, *sim.Running) {
	t.Helper()
	srv, err := sim.Start(sim.Config{Token: testToken, RunTime: 20 * time.Millisecond, Slots: 8}, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,image,promptText\n")
	for i := range rows {
		fmt.Fprintf(&b, "r%d,https://img.example.com/%d.jpg,waves %d\n", i, i, i)
	}
	m := filepath.Join(dir, "m.csv")
	require.NoError(t, os.WriteFile(m, []byte(b.String()), 0o644))
	return batch.Config{
		Manifest: m, Format: "auto", Out: filepath.Join(dir, "out"),
		Model: batch.DefaultModel, APIBase: srv.APIURL, Token: testToken,
		Concurrency: 4, DownloadConcurrency: 4, RPS: 0, MaxResends: 1,
		Logger: slog.New(slog.NewTextHandler(tLog{t}, nil)),
	}, srv
}

// tLog sends a run's logs to t.Log.
type tLog struct{ t *testing.T }

func (w tLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestRunRendersAndResumes: Run renders every row against the simulator
// and accounts it; a second Run submits nothing and finds them done.
func TestRunRendersAndResumes(t *testing.T) {
	c, srv := setup(t, 5)
	res, err := batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(c.Out, ".pikabatch.db"), res.StatePath)
	assert.Equal(t, 5, res.Summary.Submitted)
	assert.Equal(t, 5, res.Summary.Downloaded)
	assert.Equal(t, 5, res.Summary.Account.Done)
	assert.EqualValues(t, 5, res.Calls.Submit)
	assert.True(t, res.HasSpend)
	assert.EqualValues(t, 5, srv.Counters().Submits)
	assert.FileExists(t, filepath.Join(c.Out, "results.jsonl"))

	res, err = batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.Zero(t, res.Summary.Submitted)
	assert.Equal(t, 5, res.Summary.SkippedDone)
	assert.EqualValues(t, 5, srv.Counters().Submits, "nothing submitted twice")
}

// TestRunRefusesAFreshStartBesideRenders: a folder that holds this batch's
// renders but not its state file is refused before anything is sent (a
// new state would pay for every row again), naming the ways back; Fresh
// starts over.
func TestRunRefusesAFreshStartBesideRenders(t *testing.T) {
	c, srv := setup(t, 3)
	_, err := batch.Run(t.Context(), c)
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(c.Out, ".pikabatch.db")))

	res, err := batch.Run(t.Context(), c)
	require.ErrorIs(t, err, store.ErrMissing)
	assert.Contains(t, err.Error(), "results.jsonl")
	assert.Contains(t, err.Error(), "3 result files")
	assert.Contains(t, err.Error(), "pikabatch recover --out "+c.Out)
	assert.Empty(t, res.StatePath, "the run never started")
	assert.NoFileExists(t, filepath.Join(c.Out, ".pikabatch.db"), "no state created")
	assert.EqualValues(t, 3, srv.Counters().Submits, "nothing sent again")

	_, err = batch.Preview(t.Context(), c)
	require.ErrorIs(t, err, store.ErrMissing, "a dry run refuses what a run would")

	c.Fresh = true
	res, err = batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, 3, res.Summary.Submitted, "--fresh pays for every row again")
}

// TestPreviewPlansWithoutWriting: Preview plans a new batch's rows and
// prices them, and creates neither the folder nor the state file.
func TestPreviewPlansWithoutWriting(t *testing.T) {
	c, srv := setup(t, 4)
	c.PriceUSD = 0.5
	p, err := batch.Preview(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, 4, p.Plan.New)
	assert.Equal(t, 4, p.Plan.Submits)
	assert.True(t, p.Priced)
	assert.InDelta(t, 2.0, p.Low.USD, 1e-9)
	assert.NoDirExists(t, c.Out)
	assert.Zero(t, srv.Counters().Submits)
}

// TestConfigErrors: settings no run can start with are ConfigErrors, and
// a missing token is found only after the options and the manifest.
func TestConfigErrors(t *testing.T) {
	c, srv := setup(t, 1)
	for _, tc := range []struct {
		name string
		edit func(*batch.Config)
	}{
		{"no manifest", func(c *batch.Config) { c.Manifest = "" }},
		{"no concurrency", func(c *batch.Config) { c.Concurrency = 0 }},
		{"rps too low", func(c *batch.Config) { c.RPS = 0.001 }},
		{"negative price", func(c *batch.Config) { c.PriceUSD = -1 }},
		{"bad shard", func(c *batch.Config) { c.Shard = "3/2" }},
		{"bad format", func(c *batch.Config) { c.Format = "xml" }},
		{"bad results format", func(c *batch.Config) { c.ResultsFormat = "xml" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := c // each case edits its own copy
			tc.edit(&c)
			_, err := batch.Run(t.Context(), c)
			var ce *batch.ConfigError
			require.ErrorAs(t, err, &ce)
		})
	}
	c.Token = ""
	_, err := batch.Run(t.Context(), c)
	require.ErrorIs(t, err, api.ErrNoToken)
	c.TokenSource = func() (api.Token, error) { return testToken, nil }
	_, err = batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.EqualValues(t, 1, srv.Counters().Submits)
}
