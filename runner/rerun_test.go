package runner_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/store"
)

// A Runner is configuration and collaborators; each Run starts afresh. A
// second Run must not inherit the first one's outage clock, figures or
// stopped submits.
func TestSecondRunStartsAfresh(t *testing.T) {
	t.Parallel()
	e := setupFake(t, 1)
	f := newFakeAPI(t)
	f.submitErr = func(n int) error {
		switch n {
		case 1: // the first run: down for longer than the outage limit
			return &api.UnavailableError{Attempts: 4, Failing: 2 * time.Minute, Err: errors.New("HTTP 503")}
		case 2: // the second run: a blip, well inside the limit
			return &api.UnavailableError{Attempts: 4, Failing: time.Second, Err: errors.New("HTTP 503")}
		}
		return nil
	}
	require.NoError(t, os.MkdirAll(e.out, 0o755))
	st, err := store.Open(filepath.Join(e.out, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	defer st.Close()
	r, err := runner.New(runner.Config{
		Model: "pika/pika-2-2/image-to-video", OutDir: e.out, Concurrency: 2,
		Poll:        runner.PollConfig{Initial: time.Millisecond, Min: time.Millisecond, Max: 5 * time.Millisecond},
		OutageLimit: time.Minute,
		Logger:      testLogger(t),
	}, f, st)
	require.NoError(t, err)
	runOnce := func() (runner.Summary, error) {
		rows, err := manifest.Open(e.manifest, manifest.FormatAuto)
		require.NoError(t, err)
		defer rows.Close()
		return r.Run(t.Context(), rows)
	}

	sum, err := runOnce()
	require.ErrorIs(t, err, runner.ErrSubmitsStopped)
	require.ErrorIs(t, err, api.ErrUnavailable)
	assert.Equal(t, 1, sum.NotSubmitted)

	sum, err = runOnce()
	require.NoError(t, err, "the second run's outage began with its own first failure")
	assert.Equal(t, 1, sum.Rows, "its own figures")
	assert.Equal(t, 1, sum.Submitted)
	assert.Zero(t, sum.NotSubmitted)
	assert.Equal(t, 1, sum.Downloaded)
	assert.Equal(t, map[store.State]int{store.StateDone: 1}, sum.Final)
	assert.Equal(t, 3, f.submitCount())
	assert.Equal(t, sum.Rows, r.Snapshot().Rows, "Snapshot reports the last run")
}
