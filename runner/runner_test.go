package runner_test

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is one simulated account, one output folder and one manifest.
type env struct {
	t        *testing.T
	sim      *sim.Server
	apiURL   string
	out      string
	manifest string
	token    string
	// rows, if set, wraps the manifest's rows, so that a test can act
	// between two rows.
	rows func(runner.RowSource) runner.RowSource
}

// setup starts the simulator on loopback and writes a manifest of n distinct rows.
func setup(t *testing.T, n int, cfg sim.Config) *env {
	t.Helper()
	if cfg.Slots == 0 {
		cfg.Slots = 16
	}
	if cfg.RunTime == 0 {
		cfg.RunTime = 20 * time.Millisecond
	}
	if cfg.VideoSize == 0 {
		cfg.VideoSize = 8 << 10
	}
	if cfg.Seed == 0 {
		cfg.Seed = 7
	}
	srv, err := sim.New(cfg)
	require.NoError(t, err)
	apiTS := httptest.NewServer(srv.APIHandler())
	filesTS := httptest.NewServer(srv.FilesHandler())
	srv.SetFilesBase(filesTS.URL)
	t.Cleanup(func() {
		apiTS.CloseClientConnections()
		filesTS.CloseClientConnections()
		apiTS.Close()
		filesTS.Close()
	})
	dir := t.TempDir()
	e := &env{t: t, sim: srv, apiURL: apiTS.URL, out: filepath.Join(dir, "out"),
		manifest: filepath.Join(dir, "manifest.csv"), token: srv.Token()}
	e.writeManifest(n, nil)
	return e
}

// writeManifest writes n rows with ids clip-0000…; edit may change a row.
func (e *env) writeManifest(n int, edit func(i int, rec []string)) {
	e.t.Helper()
	f, err := os.Create(e.manifest)
	require.NoError(e.t, err)
	w := csv.NewWriter(f)
	require.NoError(e.t, w.Write([]string{"id", "image", "promptText", "seed", "resolution", "duration"}))
	for i := range n {
		rec := []string{fmt.Sprintf("clip-%04d", i), fmt.Sprintf("https://img.example.com/%d.jpg", i),
			fmt.Sprintf("a slow pan over scene %d", i), strconv.Itoa(i), "720p", "5"}
		if edit != nil {
			edit(i, rec)
		}
		require.NoError(e.t, w.Write(rec))
	}
	w.Flush()
	require.NoError(e.t, w.Error())
	require.NoError(e.t, f.Close())
}

// runOnce opens the store and runs the manifest once, like one `pikabatch run`.
func (e *env) runOnce(ctx context.Context, tweak func(*runner.Config)) (runner.Summary, error) {
	e.t.Helper()
	return e.runAPI(ctx, nil, tweak)
}

// jobs reads every record of the store (after the run closed it).
func (e *env) jobs() map[string]store.Job {
	e.t.Helper()
	st, err := store.Open(filepath.Join(e.out, ".pikabatch.db"), store.Options{})
	require.NoError(e.t, err)
	defer st.Close()
	jobs := map[string]store.Job{}
	require.NoError(e.t, st.ForEach(context.Background(), func(j store.Job) error {
		jobs[j.Key] = j
		return nil
	}))
	return jobs
}

// assertAllDownloaded checks that every done job's file is byte-identical
// to what the simulator served for its request ID.
func (e *env) assertAllDownloaded(n int) map[string]store.Job {
	e.t.Helper()
	jobs := e.jobs()
	require.Len(e.t, jobs, n)
	for key, j := range jobs {
		require.Equal(e.t, store.StateDone, j.State, "job %s: %s", key, j.LastError)
		require.Len(e.t, j.Outputs, 1)
		got, err := os.ReadFile(filepath.Join(e.out, j.Outputs[0].Path))
		require.NoError(e.t, err)
		want, ok := e.sim.Video(j.RequestID, 0)
		require.True(e.t, ok, "simulator knows %s", j.RequestID)
		require.Equal(e.t, want, got, "file of %s", key)
		assert.Equal(e.t, key+".mp4", j.Outputs[0].Path)
		assert.Equal(e.t, int64(len(want)), j.Outputs[0].Size)
		sum := sha256.Sum256(want)
		assert.Equal(e.t, hex.EncodeToString(sum[:]), j.Outputs[0].SHA256, "recorded hash of %s", key)
	}
	return jobs
}

func TestRunRendersEveryRowOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, 200, sim.Config{})
	sum, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	assert.Equal(t, 200, sum.Rows)
	assert.Equal(t, 200, sum.Submitted)
	assert.Equal(t, 200, sum.Downloaded)
	assert.Equal(t, 200, sum.Final[store.StateDone])
	e.assertAllDownloaded(200)

	c := e.sim.Counters()
	assert.EqualValues(t, 200, c.Submits)
	assert.Zero(t, c.DuplicateSubmits)
	assert.Zero(t, c.FileRequestsWithAuth, "the token must never reach the file host")
	assert.EqualValues(t, 200, c.Downloads)

	idx, err := os.ReadFile(filepath.Join(e.out, results.IndexFile))
	require.NoError(t, err)
	assert.Equal(t, 200, countLines(idx))

	// The same command again: nothing to do, nothing sent.
	sum, err = e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	assert.Equal(t, 200, sum.SkippedDone)
	assert.Zero(t, sum.Submitted)
	c2 := e.sim.Counters()
	assert.Equal(t, c.Submits, c2.Submits)
	assert.Equal(t, c.Downloads, c2.Downloads)
	assert.Equal(t, c.StatusCalls+c.ResultCalls, c2.StatusCalls+c2.ResultCalls)
}

func TestRunSurvivesFaults(t *testing.T) {
	t.Parallel()
	e := setup(t, 200, sim.Config{Seed: 11, Faults: sim.Faults{
		Rate429: 0.1, RetryAfter: time.Second, Rate5xx: 0.1, RateDrop: 0.03,
		RateLostResponse: 0.03, RateTruncate: 0.2, RateExpire: 0.1,
	}})
	// A row whose re-send is lost too may be re-sent again. A 5xx on submit
	// is uncertain as well (a gateway may have created the job), so about
	// one submit in six is: six
	// re-sends make "held" vanishingly rare, and every row can be asserted done.
	sum, err := e.runOnce(t.Context(), func(c *runner.Config) { c.MaxResends = 6 })
	require.NoError(t, err, "summary: %+v", sum)
	e.assertAllDownloaded(200)

	c := e.sim.Counters()
	assert.Zero(t, c.FileRequestsWithAuth)
	assert.Positive(t, c.RateLimited)
	assert.Positive(t, c.DownloadsTruncated)
	assert.Positive(t, c.DownloadsExpired)
	// Every extra job the simulator created is one the runner re-sent after
	// losing the answer, and says so.
	assert.EqualValues(t, 200+c.DuplicateSubmits, c.Submits)
	assert.LessOrEqual(t, int(c.DuplicateSubmits), sum.Resent)
	assert.LessOrEqual(t, sum.Resent, sum.Uncertain)
}

func TestRunFailedGenerationsAreReportedAndRetried(t *testing.T) {
	t.Parallel()
	e := setup(t, 50, sim.Config{Seed: 3, Faults: sim.Faults{RateFail: 0.3}})
	sum, err := e.runOnce(t.Context(), nil)
	require.ErrorIs(t, err, runner.ErrFailedRows)
	require.Positive(t, sum.Failed)
	failed := 0
	for _, j := range e.jobs() {
		if j.State == store.StateFailed {
			failed++
			assert.NotEmpty(t, j.LastError, "the API's message is kept")
			assert.NotEmpty(t, j.RequestID)
		}
	}
	assert.Equal(t, sum.Failed, failed)

	// Without --retry-failed nothing is sent again.
	before := e.sim.Counters().Submits
	_, err = e.runOnce(t.Context(), nil)
	require.ErrorIs(t, err, runner.ErrFailedRows)
	assert.Equal(t, before, e.sim.Counters().Submits)

	// With it, exactly the failed rows are sent again.
	sum2, _ := e.runOnce(t.Context(), func(c *runner.Config) { c.RetryFailed = true })
	assert.Equal(t, failed, sum2.Submitted)
	assert.EqualValues(t, before+int64(failed), e.sim.Counters().Submits)
}

func TestRunResumesAfterCancel(t *testing.T) {
	t.Parallel()
	e := setup(t, 200, sim.Config{RunTime: 30 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var submitted atomic.Int64
	sum, err := e.runOnce(ctx, func(c *runner.Config) {
		c.Hooks.Submitted = func(string, string) {
			if submitted.Add(1) == 70 {
				cancel()
			}
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, sum.Final[store.StateDone], 200)
	for _, j := range e.jobs() {
		assert.NotEqual(t, store.StateSubmitting, j.State, "an in-flight submit is recorded before exit")
		assert.NotEqual(t, store.StateUncertain, j.State)
	}
	firstSubmits := e.sim.Counters().Submits
	assert.EqualValues(t, submitted.Load(), firstSubmits, "every job the API created has its ID in the store")

	sum, err = e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	e.assertAllDownloaded(200)
	c := e.sim.Counters()
	assert.EqualValues(t, 200, c.Submits)
	assert.Zero(t, c.DuplicateSubmits)
	assert.EqualValues(t, 200-firstSubmits, sum.Submitted)
}

func TestRunRedownloadsMissingOrDamagedFiles(t *testing.T) {
	t.Parallel()
	e := setup(t, 10, sim.Config{})
	_, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(e.out, "clip-0003.mp4")))
	require.NoError(t, os.WriteFile(filepath.Join(e.out, "clip-0007.mp4"), []byte("short"), 0o644))
	before := e.sim.Counters()

	sum, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	assert.Equal(t, 8, sum.SkippedDone)
	assert.Equal(t, 2, sum.Downloaded)
	after := e.sim.Counters()
	assert.Equal(t, before.Submits, after.Submits, "re-downloaded, never re-rendered")
	assert.Equal(t, before.Downloads+2, after.Downloads)
	e.assertAllDownloaded(10)
}

// A done job keeps no result URL (recover writes none; they are pre-signed
// and expire), so a file gone since is fetched again with fresh URLs from
// the result endpoint, never rendered again.
func TestRunRedownloadsDoneJobWithoutURL(t *testing.T) {
	t.Parallel()
	e := setup(t, 4, sim.Config{})
	_, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	st, err := store.Open(filepath.Join(e.out, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	_, err = st.Update(t.Context(), "clip-0002", func(j *store.Job) error {
		for i := range j.Outputs {
			j.Outputs[i].URL = ""
		}
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.NoError(t, os.Remove(filepath.Join(e.out, "clip-0002.mp4")))
	before := e.sim.Counters()

	sum, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Downloaded)
	after := e.sim.Counters()
	assert.Equal(t, before.Submits, after.Submits, "re-downloaded, never re-rendered")
	assert.Equal(t, before.ResultCalls+1, after.ResultCalls, "one result call for fresh URLs")
	e.assertAllDownloaded(4)
}

func TestRunReportsChangedRows(t *testing.T) {
	t.Parallel()
	e := setup(t, 5, sim.Config{})
	_, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	e.writeManifest(5, func(i int, rec []string) {
		if i == 2 {
			rec[2] = "a different prompt"
		}
	})
	sum, err := e.runOnce(t.Context(), nil)
	require.ErrorIs(t, err, runner.ErrChanged)
	assert.Equal(t, 1, sum.Changed)
	assert.Equal(t, 4, sum.SkippedDone)
	assert.EqualValues(t, 5, e.sim.Counters().Submits)
}

func TestRunStopsAtOnceOnRejectedToken(t *testing.T) {
	t.Parallel()
	e := setup(t, 100, sim.Config{})
	e.token = "not-the-token"
	_, err := e.runOnce(t.Context(), nil)
	require.ErrorIs(t, err, api.ErrUnauthorized)
	c := e.sim.Counters()
	assert.Zero(t, c.Submits)
	assert.LessOrEqual(t, c.Unauthorized, int64(32), "stops after the submits already in flight")
	for _, j := range e.jobs() {
		assert.Equal(t, store.StatePending, j.State, "a refused submit is known not to have created a job")
	}
}

func TestUncertainSubmitPolicies(t *testing.T) {
	t.Parallel()
	t.Run("default re-sends once and reports", func(t *testing.T) {
		t.Parallel()
		// Few rows: more lost answers in a row stop the run
		// (TestAnAPIThatLosesEveryAnswerStopsTheRun).
		e := setup(t, 3, sim.Config{Faults: sim.Faults{RateLostResponse: 1}})
		sum, err := e.runOnce(t.Context(), nil)
		require.ErrorIs(t, err, runner.ErrHeld)
		assert.Equal(t, 3, sum.Resent)
		assert.Equal(t, 3, sum.Held)
		assert.EqualValues(t, 6, e.sim.Counters().Submits, "each row sent at most twice")
		// The next run does not send them a third time.
		_, err = e.runOnce(t.Context(), nil)
		require.ErrorIs(t, err, runner.ErrHeld)
		assert.EqualValues(t, 6, e.sim.Counters().Submits)
	})
	t.Run("hold keeps them unsent", func(t *testing.T) {
		t.Parallel()
		e := setup(t, 6, sim.Config{Faults: sim.Faults{RateLostResponse: 1}})
		hold := func(c *runner.Config) { c.HoldUncertain = true }
		sum, err := e.runOnce(t.Context(), hold)
		require.ErrorIs(t, err, runner.ErrHeld)
		assert.Equal(t, 6, sum.Uncertain)
		assert.Zero(t, sum.Resent)
		assert.EqualValues(t, 6, e.sim.Counters().Submits)
		for _, j := range e.jobs() {
			assert.Equal(t, store.StateUncertain, j.State)
		}
		_, err = e.runOnce(t.Context(), hold)
		require.ErrorIs(t, err, runner.ErrHeld)
		assert.EqualValues(t, 6, e.sim.Counters().Submits)
	})
}

func TestJobTimeoutCancelsQueuedJobs(t *testing.T) {
	t.Parallel()
	// One slot, jobs that never finish: the first runs forever, the rest queue.
	e := setup(t, 4, sim.Config{Slots: 1, Faults: sim.Faults{RateNeverFinish: 1}})
	sum, err := e.runOnce(t.Context(), func(c *runner.Config) { c.JobTimeout = 100 * time.Millisecond })
	require.ErrorIs(t, err, runner.ErrFailedRows)
	assert.Equal(t, 4, sum.Final[store.StateTimedOut])
	assert.EqualValues(t, 3, e.sim.Counters().Cancelled)
}

func TestRunGivesUpAfterAnOutage(t *testing.T) {
	t.Parallel()
	// Nothing listens: no submit can have reached the API. (A 5xx would not
	// do here: on a submit it may have created a job, so it is uncertain.)
	e := setup(t, 20, sim.Config{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e.apiURL = "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	sum, err := e.runOnce(t.Context(), func(c *runner.Config) { c.OutageLimit = 30 * time.Millisecond })
	require.ErrorIs(t, err, api.ErrUnavailable)
	assert.Zero(t, sum.Submitted)
	assert.Zero(t, e.sim.Counters().Submits)
	for _, j := range e.jobs() {
		assert.Equal(t, store.StatePending, j.State, "a refused connection created no job: the row stays resumable")
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

var _ = errors.Is

func TestIndexRewrittenOnlyWhenTheStoreChanged(t *testing.T) {
	t.Parallel()
	e := setup(t, 5, sim.Config{})
	_, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	index := filepath.Join(e.out, results.IndexFile)
	first, err := os.Stat(index)
	require.NoError(t, err)

	_, err = e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	again, err := os.Stat(index)
	require.NoError(t, err)
	assert.True(t, os.SameFile(first, again), "nothing changed: the index is not rewritten")

	require.NoError(t, os.Remove(index))
	_, err = e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	assert.FileExists(t, index, "a missing index is written again")

	require.NoError(t, os.WriteFile(index, []byte("edited\n"), 0o644))
	_, err = e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	b, err := os.ReadFile(index)
	require.NoError(t, err)
	assert.Len(t, strings.Split(strings.TrimSpace(string(b)), "\n"), 5, "a file of another size is rewritten")

	// A re-download (a video was removed) writes to the store: rewritten.
	before, err := os.Stat(index)
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(e.out, e.assertAllDownloaded(5)["clip-0000"].Outputs[0].Path)))
	_, err = e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	after, err := os.Stat(index)
	require.NoError(t, err)
	assert.False(t, os.SameFile(before, after))
}

func TestStaleIndexTempFilesAreRemoved(t *testing.T) {
	t.Parallel()
	e := setup(t, 3, sim.Config{})
	require.NoError(t, os.MkdirAll(e.out, 0o755))
	stale := filepath.Join(e.out, "."+results.IndexFile+"-4242.tmp")
	otherShard := filepath.Join(e.out, ".results-1-of-2.jsonl-77.tmp")
	for _, f := range []string{stale, otherShard} {
		require.NoError(t, os.WriteFile(f, []byte("half an index"), 0o644))
	}
	_, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	assert.NoFileExists(t, stale, "left by a run killed while writing the index")
	assert.FileExists(t, otherShard, "another shard's, maybe being written right now")
}
