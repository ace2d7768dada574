package live_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/reasons"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// fakeAPI cancels the request IDs it was told are queued.
type fakeAPI struct {
	mu       sync.Mutex
	queued   map[string]bool
	err      error // returned for every call when set
	calls    []string
	onCancel func(id string) // called before answering
}

func (f *fakeAPI) Cancel(_ context.Context, id string) error {
	if f.onCancel != nil {
		f.onCancel(id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, id)
	if f.err != nil {
		return f.err
	}
	if f.queued[id] {
		return nil
	}
	return api.ErrNotCancellable
}

// fixture is a state file with one job in each interesting state.
type fixture struct {
	path string
	st   *store.Store
	api  *fakeAPI
}

func setup(t *testing.T) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".pikabatch.db")
	st, err := store.Open(path, store.Options{Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	in := json.RawMessage(`{"image":"https://img.example.com/a.jpg","promptText":"waves, \"slow\"","seed":7,"resolution":"720p","duration":5}`)
	jobs := []store.Job{
		{Key: "a-done", State: store.StateDone, RequestID: "r-a", Line: 2, Input: in, Attempts: 1, Polls: 3,
			SubmittedAt: t0, FinishedAt: t0.Add(90 * time.Second), DownloadedAt: t0.Add(95 * time.Second),
			Outputs: []store.Output{{URL: "https://files.example.com/secret-signed", Path: "a-done.mp4", Size: 1234, SHA256: "abc123"}}},
		{Key: "b-failed", State: store.StateFailed, RequestID: "r-b", LastError: "content policy", Attempts: 1},
		{Key: "c-failed", State: store.StateFailed, RequestID: "r-c", LastError: "content policy", Attempts: 1},
		{Key: "d-expired", State: store.StateExpired, RequestID: "r-d", LastError: "expired", Attempts: 1},
		{Key: "e-queued", State: store.StateQueued, RequestID: "r-e", SubmittedAt: t0.Add(time.Minute), Attempts: 1},
		{Key: "f-running", State: store.StateRunning, RequestID: "r-f", SubmittedAt: t0.Add(-time.Minute), Attempts: 1},
		{Key: "g-uncertain", State: store.StateUncertain, Attempts: 1, LastError: "connection reset"},
		{Key: "h-submitted", State: store.StateSubmitted, RequestID: "r-h", SubmittedAt: t0.Add(2 * time.Minute), Attempts: 1},
		{Key: "i-pending", State: store.StatePending},
	}
	for _, j := range jobs {
		require.NoError(t, st.Put(ctx, j))
	}
	return &fixture{path: path, st: st, api: &fakeAPI{queued: map[string]bool{"r-e": true, "r-h": true}}}
}

func (f *fixture) batch() *live.Batch {
	return &live.Batch{Path: f.path, Store: f.st, Now: func() time.Time { return t0.Add(10 * time.Minute) },
		API: func() (live.Canceller, error) { return f.api, nil }}
}

// serve starts a control socket for f's batch.
func (f *fixture) serve(t *testing.T, b *live.Batch) *live.Server {
	t.Helper()
	srv, err := live.Listen(live.SocketPath(f.path), b)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv
}

func TestStatus(t *testing.T) {
	f := setup(t)
	s, err := f.batch().Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 9, s.Jobs)
	assert.Equal(t, 2, s.ByState[store.StateFailed])
	assert.Equal(t, 1, s.ByState[store.StateDone])
	assert.Equal(t, 0, s.ByState[store.StateCancelled], "every state has an entry")
	assert.Contains(t, s.ByState, store.StateCancelled)
	require.Len(t, s.Failures, 2)
	assert.Equal(t, live.FailureGroup{Message: "content policy", Count: 2, Keys: []string{"b-failed", "c-failed"}}, s.Failures[0])
	assert.Equal(t, "expired", s.Failures[1].Message)
	assert.Equal(t, 1, s.Uncertain)
	assert.Equal(t, []string{"g-uncertain"}, s.UncertainKeys)
	require.NotNil(t, s.OldestActive)
	assert.Equal(t, "f-running", s.OldestActive.Key)
	assert.Equal(t, 11*time.Minute, s.OldestActive.Age)
	assert.Nil(t, s.Live)
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	t.Run("every queued job", func(t *testing.T) {
		f := setup(t)
		rep, err := f.batch().Cancel(ctx, nil)
		require.NoError(t, err)
		assert.Equal(t, map[string]int{live.Cancelled: 2, live.AlreadyRunning: 1}, rep.Counts)
		assert.ElementsMatch(t, []string{"r-e", "r-h"}, f.api.calls, "running jobs are not asked")
		for _, k := range []string{"e-queued", "h-submitted"} {
			j, err := f.st.Get(ctx, k)
			require.NoError(t, err)
			assert.Equal(t, store.StateCancelled, j.State, k)
			assert.NotEmpty(t, j.LastError)
		}
		assert.False(t, rep.Unfinished())
	})
	t.Run("named keys", func(t *testing.T) {
		f := setup(t)
		rep, err := f.batch().Cancel(ctx, []string{"f-running", "e-queued", "a-done", "nope", "i-pending", "e-queued"})
		require.NoError(t, err)
		got := map[string]string{}
		for _, r := range rep.Results {
			got[r.Key] = r.Outcome
		}
		assert.Equal(t, map[string]string{"f-running": live.AlreadyRunning, "e-queued": live.Cancelled,
			"a-done": live.Finished, "nope": live.NotFound, "i-pending": live.NotSubmitted}, got)
		assert.True(t, rep.Unfinished())
	})
	t.Run("job started meanwhile", func(t *testing.T) {
		f := setup(t)
		f.api.queued = nil
		rep, err := f.batch().Cancel(ctx, []string{"e-queued"})
		require.NoError(t, err)
		assert.Equal(t, live.AlreadyRunning, rep.Results[0].Outcome)
		j, err := f.st.Get(ctx, "e-queued")
		require.NoError(t, err)
		assert.Equal(t, store.StateQueued, j.State, "nothing recorded")
	})
	t.Run("rejected token stops", func(t *testing.T) {
		f := setup(t)
		f.api.err = &api.StatusError{Code: 401, Op: "cancel"}
		_, err := f.batch().Cancel(ctx, nil)
		require.ErrorIs(t, err, api.ErrUnauthorized)
	})
	t.Run("nothing to cancel needs no API", func(t *testing.T) {
		f := setup(t)
		b := f.batch()
		b.API = nil
		rep, err := b.Cancel(ctx, []string{"a-done"})
		require.NoError(t, err)
		assert.Equal(t, live.Finished, rep.Results[0].Outcome)
		_, err = b.Cancel(ctx, []string{"e-queued"})
		require.ErrorIs(t, err, live.ErrNoAPI)
	})
}

func TestExportFormats(t *testing.T) {
	f := setup(t)
	var buf bytes.Buffer
	n, err := results.WriteIndex(context.Background(), results.WriteOptions{Format: results.CSV, To: &buf}, f.batch())
	require.NoError(t, err)
	assert.Equal(t, 9, n)
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 10)
	assert.Equal(t, results.CSVColumns, recs[0])
	row := map[string]string{}
	for i, c := range results.CSVColumns {
		row[c] = recs[1][i]
	}
	assert.Equal(t, map[string]string{
		"key": "a-done", "line": "2", "image": "https://img.example.com/a.jpg", "promptText": `waves, "slow"`,
		"negativePrompt": "", "seed": "7", "resolution": "720p", "duration": "5", "state": "done",
		"request_id": "r-a", "file": "a-done.mp4", "size": "1234", "sha256": "abc123", "attempts": "1", "polls": "3",
		"submitted_at": "2026-03-01T09:00:00Z", "finished_at": "2026-03-01T09:01:30Z", "downloaded_at": "2026-03-01T09:01:35Z",
		"render_seconds": "90.0", "error": "", "orphan": "", "cost_usd": "", "cost_estimated_usd": "",
	}, row)

	buf.Reset()
	_, err = results.WriteIndex(context.Background(), results.WriteOptions{Format: results.JSONL, To: &buf}, f.batch())
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 9)
	var e results.Entry
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &e))
	assert.Equal(t, "a-done", e.Key)
	assert.NotContains(t, buf.String(), "secret-signed", "result URLs are credentials")
}

func TestSocket(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	b := f.batch()
	b.Run = &live.Run{Owner: store.Owner{PID: 4242, Host: "box", StartedAt: t0}, Rows: 20,
		Snapshot: func() account.Figures {
			return account.Figures{Rows: 12, Downloaded: 6, Failed: 2, Wall: 4 * time.Minute,
				Final: map[store.State]int{store.StateDone: 7, store.StateFailed: 2, store.StatePending: 1}}
		},
		Calls: func() api.Calls { return api.Calls{Submit: 9, RateLimited: 3} }}
	f.serve(t, b)

	// The store is held by this process, as a live run holds it: Open must
	// go through the socket.
	src, err := live.Open(ctx, f.path, live.OpenOptions{Write: true})
	require.NoError(t, err)
	defer src.Close()
	require.True(t, src.IsLive())

	st, err := src.Status(ctx)
	require.NoError(t, err)
	want, err := f.batch().Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, want.ByState, st.ByState)
	assert.Equal(t, want.Failures, st.Failures)
	// The account over the socket is the store's, over the live run's rows.
	wantAccount := want.Account
	wantAccount.NotSubmitted += 20 - wantAccount.Rows
	wantAccount.Rows = 20
	assert.Equal(t, wantAccount, st.Account)
	require.NotNil(t, st.Live)
	assert.Equal(t, 4242, st.Live.PID)
	// The live figures tell the state file's account, as status prints it:
	// 1 done, 3 failed (an expired one among them), 3 in flight, 1 held,
	// and 12 not submitted (one pending, 11 not in the state file yet).
	assert.Equal(t, account.Ledger{Rows: 20, Done: 1, Failed: 3, InFlight: 3, Held: 1, NotSubmitted: 12,
		Spend: st.Account.Spend}, st.Account)
	assert.Equal(t, st.Account, st.Live.ThisRun.Account)
	assert.Equal(t, 4, st.Live.Finished)
	assert.Equal(t, 16, st.Live.Left)
	assert.Equal(t, 3, st.Live.InProgress)
	assert.Equal(t, int64(3), st.Live.Calls.RateLimited)
	assert.InDelta(t, 2.0, st.Live.PerMinute, 0.01, "8 jobs in 4 minutes")
	assert.Equal(t, 480*time.Second, st.Live.ETA, "16 left at 2 a minute")

	var keys []string
	require.NoError(t, src.Export(ctx, func(e results.Entry) error {
		keys = append(keys, e.Key)
		return nil
	}))
	assert.Len(t, keys, 9)
	assert.Equal(t, "a-done", keys[0])

	rep, err := src.Cancel(ctx, []string{"e-queued"})
	require.NoError(t, err)
	assert.Equal(t, live.Cancelled, rep.Results[0].Outcome)
	j, err := f.st.Get(ctx, "e-queued")
	require.NoError(t, err)
	assert.Equal(t, store.StateCancelled, j.State, "the live side recorded it")

	f.api.err = &api.StatusError{Code: 401, Op: "cancel"}
	_, err = src.Cancel(ctx, []string{"h-submitted"})
	require.ErrorIs(t, err, api.ErrUnauthorized, "the error kind crosses the socket")
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("no state file", func(t *testing.T) {
		_, err := live.Open(ctx, filepath.Join(t.TempDir(), ".pikabatch.db"), live.OpenOptions{})
		require.ErrorIs(t, err, live.ErrNoState)
	})
	t.Run("locked and nobody answering names the holder", func(t *testing.T) {
		f := setup(t)
		// A socket file left by a run that died: nobody listens on it.
		require.NoError(t, os.WriteFile(live.SocketPath(f.path), nil, 0o600))
		_, err := live.Open(ctx, f.path, live.OpenOptions{LockTimeout: -1})
		var le *store.LockedError
		require.ErrorAs(t, err, &le)
		require.NotNil(t, le.Owner)
		assert.Equal(t, os.Getpid(), le.Owner.PID)
	})
	t.Run("no live run reads the file", func(t *testing.T) {
		f := setup(t)
		require.NoError(t, f.st.Close())
		src, err := live.Open(ctx, f.path, live.OpenOptions{})
		require.NoError(t, err)
		defer src.Close()
		assert.False(t, src.IsLive())
		s, err := src.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, 9, s.Jobs)
		_, err = src.Cancel(ctx, []string{"e-queued"})
		require.ErrorIs(t, err, live.ErrNoAPI)
	})
	t.Run("a stale socket is replaced", func(t *testing.T) {
		f := setup(t)
		staleSocket(t, live.SocketPath(f.path))
		srv := f.serve(t, f.batch())
		c, err := live.Dial(ctx, srv.Path())
		require.NoError(t, err)
		require.NoError(t, c.Close())
		require.NoError(t, srv.Close())
		require.NoError(t, srv.Close(), "Close twice")
		_, err = os.Stat(srv.Path())
		assert.ErrorIs(t, err, os.ErrNotExist, "the socket is removed")
	})
}

func TestSocketPath(t *testing.T) {
	assert.Equal(t, "out/.pikabatch.db.sock", live.SocketPath("out/.pikabatch.db"))
	assert.Equal(t, "out/.pikabatch-0-of-4.db.sock", live.SocketPath("out/.pikabatch-0-of-4.db"))

	t.Run("never the state file itself", func(t *testing.T) {
		// --state out/x.sock once made the socket the state file,
		// and binding it deleted the state.
		for _, p := range []string{"out/x.sock", "x.sock", "out/.pikabatch.sock", "a"} {
			assert.NotEqual(t, p, live.SocketPath(p), p)
		}
	})
	t.Run("one socket per state file", func(t *testing.T) {
		// a.db and a.json once shared a.sock, so a cancel meant for
		// one batch reached the other's run.
		seen := map[string]string{}
		for _, p := range []string{"a.db", "a.json", "a", "a.sock", "out/a.db", "a.db.sock"} {
			s := live.SocketPath(p)
			if other, dup := seen[s]; dup {
				t.Errorf("%s and %s share %s", p, other, s)
			}
			seen[s] = p
		}
	})
	t.Run("a long path is shortened, still per file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
		a, b := filepath.Join(dir, "state-one.db"), filepath.Join(dir, "state-two.db")
		sa, sb := live.SocketPath(a), live.SocketPath(b)
		assert.NotEqual(t, sa, sb)
		assert.Equal(t, dir, filepath.Dir(sa), "beside the state file")
		assert.Equal(t, sa, live.SocketPath(a), "stable")
		rel, err := filepath.Rel(mustGetwd(t), a)
		require.NoError(t, err)
		if len(rel) < len(a) {
			assert.Equal(t, sa, filepath.Join(filepath.Dir(a), filepath.Base(live.SocketPath(rel))),
				"a relative and an absolute name of one file agree")
		}
	})
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	return wd
}

func TestListenNeverRemovesAFileThatIsNotASocket(t *testing.T) {
	f := setup(t)
	// A state file, or anything else, at the socket's path is left alone.
	victim := live.SocketPath(f.path)
	require.NoError(t, os.WriteFile(victim, []byte("precious"), 0o600))
	_, err := live.Listen(victim, f.batch())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a socket")
	b, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(b))
}

func TestStateFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".pikabatch-1-of-2.db", ".pikabatch.db", ".pikabatch-0-of-2.db", ".pikabatch.db.owner", "a.mp4"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o600))
	}
	got, err := live.StateFiles(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, ".pikabatch-0-of-2.db"), filepath.Join(dir, ".pikabatch-1-of-2.db"),
		filepath.Join(dir, ".pikabatch.db")}, got)
}

// staleSocket leaves a socket file at path that nobody listens on, as a run
// killed with -9 does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	ul, ok := ln.(*net.UnixListener)
	require.True(t, ok)
	ul.SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&os.ModeSocket)
}

// ctxCanceller accepts every cancel, but only once its context ends: a
// cancel still on its way when the run stops.
type ctxCanceller struct {
	entered chan struct{}
	once    sync.Once
}

func (c *ctxCanceller) Cancel(ctx context.Context, _ string) error {
	c.once.Do(func() { close(c.entered) })
	<-ctx.Done()
	return nil // the API took it just as the run stopped
}

func TestCloseWaitsForACancelInProgress(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	b := f.batch()
	c := &ctxCanceller{entered: make(chan struct{})}
	b.API = func() (live.Canceller, error) { return c, nil }
	srv, err := live.Listen(live.SocketPath(f.path), b)
	require.NoError(t, err)
	live.SetGrace(srv, 0) // the run does not wait for the answer to reach the asker

	src, err := live.Open(ctx, f.path, live.OpenOptions{Write: true})
	require.NoError(t, err)
	defer src.Close()
	asked := make(chan struct{})
	go func() {
		defer close(asked)
		_, _ = src.Cancel(ctx, []string{"e-queued"}) // its connection is closed under it
	}()
	<-c.entered
	require.NoError(t, srv.Close())
	j, err := f.st.Get(ctx, "e-queued")
	require.NoError(t, err)
	assert.Equal(t, store.StateCancelled, j.State, "recorded before Close returned: nothing writes after it")
	<-asked
}

// TestARunThatDoesNotAnswerIsNamed: status, export,
// cancel and verify waited forever on a live run that was stopped
// (SIGSTOP): its socket still takes connections, the kernel queues them,
// and nothing answers. Each now gives up after the answer timeout with
// ErrNotAnswering, naming the socket.
func TestARunThatDoesNotAnswerIsNamed(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	ln, err := net.Listen("unix", live.SocketPath(f.path)) // listening, never accepting
	require.NoError(t, err)
	defer ln.Close()

	src, err := live.Open(ctx, f.path, live.OpenOptions{AnswerTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	defer src.Close()
	require.True(t, src.IsLive(), "the socket took the connection")

	_, err = src.Status(ctx)
	require.ErrorIs(t, err, live.ErrNotAnswering)
	assert.Contains(t, err.Error(), live.SocketPath(f.path))
	_, err = src.Cancel(ctx, []string{"e-queued"})
	require.ErrorIs(t, err, live.ErrNotAnswering)
	err = src.Export(ctx, func(results.Entry) error { return nil })
	require.ErrorIs(t, err, live.ErrNotAnswering)
}

// slowCanceller takes d for each cancel: an API slower, over a few jobs,
// than the asking side's patience for one silence.
type slowCanceller struct{ d time.Duration }

func (c slowCanceller) Cancel(ctx context.Context, _ string) error {
	t := time.NewTimer(c.d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestALongCancelIsNotMistakenForASilentRun: a cancel of many jobs makes
// an API call each; the run sends a space while it works, so the asking
// side waits for the answer however long it takes.
func TestALongCancelIsNotMistakenForASilentRun(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	b := f.batch()
	b.API = func() (live.Canceller, error) { return slowCanceller{d: 150 * time.Millisecond}, nil }
	srv := f.serve(t, b)
	live.SetKeepalive(srv, 10*time.Millisecond)

	src, err := live.Open(ctx, f.path, live.OpenOptions{AnswerTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	defer src.Close()
	rep, err := src.Cancel(ctx, []string{"e-queued", "h-submitted"}) // 300 ms of API calls
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Counts[live.Cancelled], "%+v", rep)
}

// TestStatusFailuresBounded: a state file whose every failed job has its
// own message groups them as a run's summary counts reasons: variants of
// one message together, the most frequent few, then the rest in one group.
func TestStatusFailuresBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".pikabatch.db")
	st, err := store.Open(path, store.Options{Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	jobs := 0
	put := func(key, msg string) {
		require.NoError(t, st.Put(ctx, store.Job{Key: key, State: store.StateFailed, RequestID: "r-" + key, Attempts: 1, LastError: msg}))
		jobs++
	}
	for i := range 30 {
		put(fmt.Sprintf("job-%03d", i), fmt.Sprintf("job r-%d failed", 10_000_000+i)) // one reason once normalised
	}
	for i := range 120 {
		put(fmt.Sprintf("worker-%03d", i), fmt.Sprintf("worker w%d crashed", i)) // distinct
	}
	b := &live.Batch{Path: path, Store: st, Now: func() time.Time { return t0 }}
	s, err := b.Status(ctx)
	require.NoError(t, err)
	require.Len(t, s.Failures, reasons.Shown+1)
	assert.Equal(t, live.FailureGroup{Message: "job <id> failed", Count: 30,
		Keys: []string{"job-000", "job-001", "job-002", "job-003", "job-004"}}, s.Failures[0])
	assert.Equal(t, "worker w0 crashed", s.Failures[1].Message, "ties by message")
	other := s.Failures[len(s.Failures)-1]
	assert.Equal(t, reasons.Other, other.Message)
	assert.Equal(t, []string{"worker-002", "worker-003", "worker-004", "worker-005", "worker-006"}, other.Keys,
		"the first keys of the folded groups (ties go by message: w0, w1, w10, w100… stay)")
	total := 0
	for _, g := range s.Failures {
		total += g.Count
	}
	assert.Equal(t, jobs, total, "every failed job counted once")
	assert.Equal(t, jobs-30-(reasons.Shown-1), other.Count)
	f := setup(t)
	s, err = f.batch().Status(ctx)
	require.NoError(t, err)
	assert.Len(t, s.Failures, 2, "under the bound nothing is folded")
}

// TestCostEstimates: a sent job without a reported cost is estimated at
// the price the state file recorded, marked as an estimate, in status and
// both export formats, with no catalog at hand.
func TestCostEstimates(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	_, err := f.st.Update(ctx, "a-done", func(j *store.Job) error {
		j.CostUSD = ptr(0.25)
		return nil
	})
	require.NoError(t, err)
	rec, err := money.NewPricer(money.PriceConfig{BaseUSD: ptr(0.02), Unit: "second", DefaultSeconds: 5}).Record()
	require.NoError(t, err)
	require.NoError(t, f.st.SetMeta(ctx, money.PriceMetaKey, rec))
	require.NoError(t, f.st.Close())
	src, err := live.Open(ctx, f.path, live.OpenOptions{})
	require.NoError(t, err)
	defer src.Close()

	s, err := src.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, account.Dollars(0.25), s.CostUSD)
	assert.Equal(t, 1, s.CostJobs)
	assert.Equal(t, 7, s.NoCostJobs, "sent, no reported cost")
	assert.Equal(t, 7, s.EstimatedCostJobs)
	assert.Equal(t, account.Dollars(0.7), s.EstimatedCostUSD, "7 jobs at the schema's 5 s default, $0.020/s")
	assert.Equal(t, "base $0.020/second", s.EstimateBasis)

	var buf bytes.Buffer
	_, err = results.WriteIndex(ctx, results.WriteOptions{Format: results.JSONL, To: &buf}, src)
	require.NoError(t, err)
	byKey := map[string]results.Entry{}
	require.NoError(t, results.Scan(&buf, func(_ int, e results.Entry) error {
		byKey[e.Key] = e
		return nil
	}))
	require.NotNil(t, byKey["a-done"].CostUSD)
	assert.Nil(t, byKey["a-done"].CostEstimatedUSD, "a reported cost is not estimated")
	require.NotNil(t, byKey["b-failed"].CostEstimatedUSD)
	assert.InDelta(t, 0.1, *byKey["b-failed"].CostEstimatedUSD, 1e-9)
	assert.Nil(t, byKey["b-failed"].CostUSD, "an estimate is never shown as reported")
	assert.Nil(t, byKey["i-pending"].CostEstimatedUSD, "never sent: no cost")

	buf.Reset()
	_, err = results.WriteIndex(ctx, results.WriteOptions{Format: results.CSV, To: &buf}, src)
	require.NoError(t, err)
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	col := slices.Index(recs[0], "cost_estimated_usd")
	require.GreaterOrEqual(t, col, 0)
	assert.Equal(t, "", recs[1][col], "a-done: reported")
	assert.Equal(t, "0.1", recs[2][col], "b-failed: estimated")
}

func ptr[T any](v T) *T { return &v }
