package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	store *Store
	path  string
	clock *fakeClock
}

// setup opens a store in a fresh directory, closed when the test ends.
func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		path:  filepath.Join(t.TempDir(), ".pikabatch.db"),
		clock: &fakeClock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)},
	}
	f.store = f.open(t)
	return f
}

// open opens f.path again with f's clock, closed when the test ends.
func (f *fixture) open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(f.path, Options{Now: f.clock.Now, Owner: CurrentOwner("store test")})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func newJob(key string) Job {
	return Job{
		Key:       key,
		ParamHash: "hash-" + key,
		Line:      7,
		Input:     json.RawMessage(`{"prompt":"a cat on a skateboard","seconds":5}`),
		State:     StatePending,
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	created := f.clock.Now()

	for _, key := range []string{"c", "a", "b"} {
		require.NoError(t, f.store.Put(ctx, newJob(key)))
	}
	got, err := f.store.Get(ctx, "a")
	require.NoError(t, err)
	want := newJob("a")
	want.CreatedAt, want.UpdatedAt = created, created
	assert.Equal(t, want, got)

	f.clock.Advance(time.Minute)
	submitted := f.clock.Now()
	updated, err := f.store.Update(ctx, "a", func(j *Job) error {
		j.State = StateSubmitted
		j.RequestID = "req-a"
		j.Attempts++
		j.SubmittedAt = submitted
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, StateSubmitted, updated.State)
	assert.Equal(t, created, updated.CreatedAt, "Update keeps CreatedAt")
	assert.Equal(t, submitted, updated.UpdatedAt)
	got, err = f.store.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, updated, got, "Update returns the job as stored")

	f.clock.Advance(time.Minute)
	done := got
	done.State = StateDone
	done.Outputs = []Output{{URL: "https://files.example/a.mp4?sig=x", Path: "a.mp4", Size: 1234, SHA256: "ab12"}}
	done.DownloadedAt = f.clock.Now()
	require.NoError(t, f.store.Put(ctx, done))
	got, err = f.store.Get(ctx, "a")
	require.NoError(t, err)
	done.UpdatedAt = f.clock.Now()
	done.Outputs = []Output{{Path: "a.mp4", Size: 1234, SHA256: "ab12"}} // a done job keeps no result URL
	assert.Equal(t, done, got)

	var keys []string
	require.NoError(t, f.store.ForEach(ctx, func(j Job) error {
		keys = append(keys, j.Key)
		return nil
	}))
	assert.Equal(t, []string{"a", "b", "c"}, keys, "key order")

	counts, err := f.store.Counts(ctx)
	require.NoError(t, err)
	assert.Len(t, counts, len(AllStates()))
	assert.Equal(t, 2, counts[StatePending])
	assert.Equal(t, 1, counts[StateDone])
	assert.Zero(t, counts[StateFailed])
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	_, err := f.store.Get(ctx, "nope")
	assert.ErrorIs(t, err, ErrNotFound)
	called := false
	_, err = f.store.Update(ctx, "nope", func(*Job) error { called = true; return nil })
	assert.ErrorIs(t, err, ErrNotFound)
	assert.EqualError(t, err, `store: update "nope": job not found`)
	assert.False(t, called)
	_, err = f.store.Get(ctx, "nope")
	assert.ErrorIs(t, err, ErrNotFound, "a failed Update creates nothing")
}

func TestUpdateFnError(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	require.NoError(t, f.store.Put(ctx, newJob("a")))

	boom := errors.New("boom")
	_, err := f.store.Update(ctx, "a", func(j *Job) error {
		j.State = StateFailed
		return boom
	})
	assert.ErrorIs(t, err, boom)
	got, err := f.store.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, StatePending, got.State, "nothing written when fn fails")
}

func TestReopen(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	for i := range 50 {
		job := newJob(fmt.Sprintf("k%02d", i))
		job.State, job.RequestID = StateRunning, fmt.Sprintf("req-%d", i)
		require.NoError(t, f.store.Put(ctx, job))
	}
	require.NoError(t, f.store.SetMeta(ctx, "model", "pika/v2"))
	require.NoError(t, f.store.Close())
	assert.NoFileExists(t, ownerPath(f.path))

	s := f.open(t)
	n := 0
	require.NoError(t, s.ForEach(ctx, func(j Job) error {
		assert.Equal(t, fmt.Sprintf("k%02d", n), j.Key)
		assert.Equal(t, fmt.Sprintf("req-%d", n), j.RequestID)
		assert.JSONEq(t, `{"prompt":"a cat on a skateboard","seconds":5}`, string(j.Input))
		n++
		return nil
	}))
	assert.Equal(t, 50, n)
	model, err := s.Meta(ctx, "model")
	require.NoError(t, err)
	assert.Equal(t, "pika/v2", model)
}

func TestPutConcurrentBatches(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	const n = 200

	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			job := newJob(fmt.Sprintf("job-%03d", i))
			job.State, job.RequestID = StateSubmitted, fmt.Sprintf("req-%03d", i)
			assert.NoError(t, f.store.Put(ctx, job))
		})
	}
	wg.Wait()

	for i := range n {
		job, err := f.store.Get(ctx, fmt.Sprintf("job-%03d", i))
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("req-%03d", i), job.RequestID)
	}
	st := f.store.Stats()
	assert.EqualValues(t, n, st.Writes)
	assert.Positive(t, st.Commits)
	assert.Less(t, st.Commits, st.Writes, "concurrent Puts share commits")
	t.Logf("%d writes in %d commits", st.Writes, st.Commits)
}

// TestUpdateConcurrent checks that Update is an atomic read-modify-write
// under batching, and that a refused call in a batch doesn't fail the others.
func TestUpdateConcurrent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	require.NoError(t, f.store.Put(ctx, newJob("hot")))
	const n = 200

	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if i%4 == 0 { // a missing key in the same batches
				_, err := f.store.Update(ctx, fmt.Sprintf("missing-%d", i), func(j *Job) error { return nil })
				assert.ErrorIs(t, err, ErrNotFound)
				return
			}
			_, err := f.store.Update(ctx, "hot", func(j *Job) error {
				j.Polls++
				return nil
			})
			assert.NoError(t, err)
		})
	}
	wg.Wait()

	job, err := f.store.Get(ctx, "hot")
	require.NoError(t, err)
	assert.Equal(t, n-n/4, job.Polls)
	st := f.store.Stats()
	assert.Less(t, st.Commits, st.Writes)
}

func TestContextCancelledBeforeWrite(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	err := f.store.Put(ctx, newJob("a"))
	assert.ErrorIs(t, err, context.Canceled)
	_, err = f.store.Update(ctx, "a", func(*Job) error { return nil })
	assert.ErrorIs(t, err, context.Canceled)
	err = f.store.ForEach(ctx, func(Job) error { return nil })
	assert.NoError(t, err, "no jobs: nothing to interrupt")

	_, err = f.store.Get(context.Background(), "a")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Zero(t, f.store.Stats().Writes)
}

func TestForEachStops(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, f.store.Put(ctx, newJob(k)))
	}

	stop := errors.New("stop")
	var seen []string
	err := f.store.ForEach(ctx, func(j Job) error {
		seen = append(seen, j.Key)
		if j.Key == "b" {
			return stop
		}
		return nil
	})
	assert.Same(t, stop, err, "fn's error comes back as is")
	assert.Equal(t, []string{"a", "b"}, seen)

	cctx, cancel := context.WithCancel(ctx)
	seen = nil
	err = f.store.ForEach(cctx, func(j Job) error {
		seen = append(seen, j.Key)
		cancel()
		return nil
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, []string{"a"}, seen)
}

func TestValidation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	tests := []struct {
		name string
		job  Job
	}{
		{"empty key", Job{State: StatePending}},
		{"no state", Job{Key: "a"}},
		{"unknown state", Job{Key: "a", State: "finished"}},
		{"submitted without request ID", Job{Key: "a", State: StateSubmitted}},
		{"done without request ID", Job{Key: "a", State: StateDone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.store.Put(ctx, tt.job)
			assert.ErrorIs(t, err, ErrInvalidJob)
		})
	}

	require.NoError(t, f.store.Put(ctx, newJob("a")))
	_, err := f.store.Update(ctx, "a", func(j *Job) error { j.Key = "b"; return nil })
	assert.ErrorIs(t, err, ErrInvalidJob)
	_, err = f.store.Update(ctx, "a", func(j *Job) error { j.State = StateRunning; return nil })
	assert.ErrorIs(t, err, ErrInvalidJob)
	got, err := f.store.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, StatePending, got.State)
}

func TestRequestIDGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	tests := []struct {
		name    string
		stored  Job
		write   func(Job) Job
		refused bool
	}{
		{
			name:    "stale pending copy over running",
			stored:  Job{State: StateRunning, RequestID: "r1"},
			write:   func(j Job) Job { j.State, j.RequestID = StatePending, ""; return j },
			refused: true,
		},
		{
			name:    "new ID over rendered",
			stored:  Job{State: StateRendered, RequestID: "r1"},
			write:   func(j Job) Job { j.State, j.RequestID = StateSubmitted, "r2"; return j },
			refused: true,
		},
		{
			name:    "cancelled without its ID",
			stored:  Job{State: StateQueued, RequestID: "r1"},
			write:   func(j Job) Job { j.State, j.RequestID = StateCancelled, ""; return j },
			refused: true,
		},
		{
			name:   "same ID moves on",
			stored: Job{State: StateQueued, RequestID: "r1"},
			write:  func(j Job) Job { j.State = StateRendered; return j },
		},
		{
			name:   "retry failed",
			stored: Job{State: StateFailed, RequestID: "r1"},
			write:  func(j Job) Job { j.State, j.RequestID = StatePending, ""; return j },
		},
		{
			name:   "re-render expired",
			stored: Job{State: StateExpired, RequestID: "r1"},
			write:  func(j Job) Job { j.State, j.RequestID = StateSubmitted, "r2"; return j },
		},
		{
			name:   "new ID after pending kept the old one",
			stored: Job{State: StatePending, RequestID: "r1"},
			write:  func(j Job) Job { j.State, j.RequestID = StateSubmitted, "r2"; return j },
		},
		{
			name:   "uncertain re-send",
			stored: Job{State: StateUncertain},
			write:  func(j Job) Job { j.State, j.RequestID = StateSubmitted, "r2"; return j },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, via := range []string{"put", "update"} {
				f := setup(t)
				stored := tt.stored
				stored.Key = "k"
				require.NoError(t, f.store.Put(ctx, stored))

				var err error
				if via == "put" {
					err = f.store.Put(ctx, tt.write(stored))
				} else {
					_, err = f.store.Update(ctx, "k", func(j *Job) error { *j = tt.write(*j); return nil })
				}
				got, gerr := f.store.Get(ctx, "k")
				require.NoError(t, gerr)
				if tt.refused {
					assert.ErrorIs(t, err, ErrRequestIDChange, via)
					assert.Equal(t, stored.RequestID, got.RequestID, via)
					assert.Equal(t, stored.State, got.State, via)
				} else {
					assert.NoError(t, err, via)
					assert.Equal(t, tt.write(stored).RequestID, got.RequestID, via)
				}
			}
		})
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	require.FileExists(t, ownerPath(f.path))

	require.NoError(t, f.store.Close())
	require.NoError(t, f.store.Close(), "second Close")
	assert.NoFileExists(t, ownerPath(f.path))

	assert.ErrorIs(t, f.store.Put(ctx, newJob("a")), ErrClosed)
	_, err := f.store.Get(ctx, "a")
	assert.ErrorIs(t, err, ErrClosed)
	_, err = f.store.Update(ctx, "a", func(*Job) error { return nil })
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, f.store.ForEach(ctx, func(Job) error { return nil }), ErrClosed)
	_, err = f.store.Counts(ctx)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, f.store.SetMeta(ctx, "k", "v"), ErrClosed)
	_, err = f.store.Meta(ctx, "k")
	assert.ErrorIs(t, err, ErrClosed)
}

// TestCloseWaitsForWrites closes the store under concurrent Puts: each Put
// either completes before Close or fails with ErrClosed, and every Put that
// returned nil is on file.
func TestCloseWaitsForWrites(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	const writers = 32

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written []string
		started = make(chan struct{}, writers)
	)
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%02d-%04d", w, i)
				err := f.store.Put(ctx, newJob(key))
				if errors.Is(err, ErrClosed) {
					return
				}
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				written = append(written, key)
				mu.Unlock()
				if i == 0 {
					started <- struct{}{}
				}
			}
		})
	}
	for range writers {
		<-started
	}
	require.NoError(t, f.store.Close())
	wg.Wait()

	s := f.open(t)
	for _, key := range written {
		_, err := s.Get(ctx, key)
		assert.NoError(t, err)
	}
	t.Logf("%d writes before Close", len(written))
}

func TestSchema(t *testing.T) {
	t.Parallel()

	t.Run("newer version refused", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		require.NoError(t, f.store.Close())
		rawUpdate(t, f.path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put([]byte(metaSchemaVersion), []byte("2"))
		})
		_, err := Open(f.path, Options{})
		assert.ErrorIs(t, err, ErrSchemaTooNew)
		assert.ErrorContains(t, err, "schema version 2, this build reads up to 1")
		assert.NoFileExists(t, ownerPath(f.path), "a refused Open leaves no owner file")
	})

	t.Run("foreign bbolt file refused", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "other.db")
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("widgets"))
			return err
		})
		_, err := Open(path, Options{})
		assert.ErrorIs(t, err, ErrNotStateFile)
	})

	t.Run("not a bbolt file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "notes.txt")
		require.NoError(t, os.WriteFile(path, []byte("just some notes, long enough to not be a database"), 0o600))
		_, err := Open(path, Options{})
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrLocked)
	})

	t.Run("empty bbolt file is initialised", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "empty.db")
		rawUpdate(t, path, func(*bolt.Tx) error { return nil })
		s, err := Open(path, Options{})
		require.NoError(t, err)
		require.NoError(t, s.Put(context.Background(), newJob("a")))
		require.NoError(t, s.Close())
	})

	t.Run("missing directory", func(t *testing.T) {
		t.Parallel()
		_, err := Open(filepath.Join(t.TempDir(), "nope", "state.db"), Options{})
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
}

// rawUpdate writes to a bbolt file directly, as another tool or version would.
func rawUpdate(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(fn))
	require.NoError(t, db.Close())
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	require.NoError(t, f.store.Put(ctx, newJob("a")))
	require.NoError(t, f.store.Close())

	r1, err := Open(f.path, Options{ReadOnly: true})
	require.NoError(t, err)
	defer func() { assert.NoError(t, r1.Close()) }()
	r2, err := Open(f.path, Options{ReadOnly: true})
	require.NoError(t, err, "readers share the lock")
	defer func() { assert.NoError(t, r2.Close()) }()
	assert.NoFileExists(t, ownerPath(f.path), "readers don't claim ownership")

	job, err := r1.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "a", job.Key)
	assert.ErrorIs(t, r1.Put(ctx, newJob("b")), ErrReadOnly)
	_, err = r1.Update(ctx, "a", func(*Job) error { return nil })
	assert.ErrorIs(t, err, ErrReadOnly)
	assert.ErrorIs(t, r1.SetMeta(ctx, "k", "v"), ErrReadOnly)

	_, err = Open(f.path, Options{LockTimeout: -1})
	var lerr *LockedError
	require.ErrorAs(t, err, &lerr, "a writer waits for readers")
	assert.Nil(t, lerr.Owner)
}

func TestStateClasses(t *testing.T) {
	t.Parallel()
	terminal := map[State]bool{StateDone: true, StateFailed: true, StateCancelled: true, StateTimedOut: true, StateExpired: true}
	withID := map[State]bool{StateSubmitted: true, StateQueued: true, StateRunning: true, StateRendered: true, StateDone: true}

	all := AllStates()
	assert.Len(t, all, 12)
	for _, s := range all {
		assert.True(t, s.IsValid(), s)
		assert.Equal(t, terminal[s], s.IsTerminal(), s)
		assert.Equal(t, withID[s], s.HasRequestID(), s)
	}
	assert.False(t, State("").IsValid())
	all[0] = "mutated"
	assert.Equal(t, StatePending, AllStates()[0], "AllStates returns a fresh slice")
}
