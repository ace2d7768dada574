package bucketsync_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pikabatch/pikabatch/runner/bucket/fakes3"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
	"github.com/pikabatch/pikabatch/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The AWS SDK's shared HTTP transport keeps idle connections.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// fakeS3 starts an in-process S3 on loopback with one bucket and returns
// the s3:// URL of prefix in it.
func fakeS3(t *testing.T, name, prefix string) bucket.Location {
	t.Helper()
	l, err := bucket.Parse(fakes3.Start(t, nil, name).Prefix(name, prefix))
	require.NoError(t, err)
	return l
}

// switchable is an uploader whose bucket can be made unreachable, and
// that counts the uploads it was asked for and the most at once.
type switchable struct {
	bucketsync.Uploader
	down              atomic.Bool
	refuse            atomic.Bool // as a bucket that denies access
	calls, now, most  atomic.Int64
	puts              atomic.Int64 // sent without looking first
	mu                sync.Mutex
	uploadedObjectsOf []string
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:1: connect: connection refused")

var errRefused = fmt.Errorf("s3://renders/batch1/clip00.mp4: %w: api error AccessDenied: Access Denied", bucket.ErrDenied)

// failure is the error of a bucket made to fail, nil when it works.
func (u *switchable) failure() error {
	switch {
	case u.refuse.Load():
		return errRefused
	case u.down.Load():
		return errUnreachable
	}
	return nil
}

func (u *switchable) Upload(ctx context.Context, l bucket.Location, src bucket.Source) (bool, error) {
	u.calls.Add(1)
	n := u.now.Add(1)
	defer u.now.Add(-1)
	for m := u.most.Load(); n > m && !u.most.CompareAndSwap(m, n); m = u.most.Load() {
	}
	if err := u.failure(); err != nil {
		return false, err
	}
	wrote, err := u.Uploader.Upload(ctx, l, src)
	if wrote {
		u.mu.Lock()
		u.uploadedObjectsOf = append(u.uploadedObjectsOf, l.Key)
		u.mu.Unlock()
	}
	return wrote, err
}

func (u *switchable) Put(ctx context.Context, l bucket.Location, src bucket.Source) error {
	u.calls.Add(1)
	u.puts.Add(1)
	n := u.now.Add(1)
	defer u.now.Add(-1)
	for m := u.most.Load(); n > m && !u.most.CompareAndSwap(m, n); m = u.most.Load() {
	}
	if err := u.failure(); err != nil {
		return err
	}
	if err := u.Uploader.Put(ctx, l, src); err != nil {
		return err
	}
	u.mu.Lock()
	u.uploadedObjectsOf = append(u.uploadedObjectsOf, l.Key)
	u.mu.Unlock()
	return nil
}

func (u *switchable) sent() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := u.uploadedObjectsOf
	u.uploadedObjectsOf = nil
	return out
}

type fixture struct {
	dir    string
	to     bucket.Location
	client *bucket.Client
	up     *switchable
	st     *store.Store
	jobs   []store.Job
}

// setup makes a batch folder with n done jobs, each with one file on disk
// and in the state, and a fake bucket to copy them to.
func setup(t *testing.T, n int) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), to: fakeS3(t, "renders", "batch1")}
	f.client = bucket.NewClient()
	t.Cleanup(func() { _ = f.client.Close() })
	f.up = &switchable{Uploader: f.client}
	st, err := store.Open(filepath.Join(f.dir, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f.st = st
	for i := range n {
		key := fmt.Sprintf("clip%02d", i)
		body := []byte("video of " + key)
		require.NoError(t, os.WriteFile(filepath.Join(f.dir, key+".mp4"), body, 0o644))
		sum := sha256.Sum256(body)
		j := store.Job{Key: key, ParamHash: "h", State: store.StateDone, RequestID: "req-" + key,
			Outputs: []store.Output{{Path: key + ".mp4", Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}}}
		require.NoError(t, st.Put(t.Context(), j))
		f.jobs = append(f.jobs, j)
	}
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "results.jsonl"), []byte("{}\n"), 0o644))
	return f
}

func (f *fixture) syncer(t *testing.T, workers int) *bucketsync.Syncer {
	t.Helper()
	s, err := bucketsync.New(bucketsync.Config{To: f.to, Dir: f.dir, Workers: workers, Logger: testLogger(t)}, f.up, f.st)
	require.NoError(t, err)
	return s
}

// TestFilesAreCopiedOnceAndRecorded: the files handed over and those only
// the state knows are copied, each with its digest; the index too; a
// second run sends nothing.
func TestFilesAreCopiedOnceAndRecorded(t *testing.T) {
	f := setup(t, 5)
	ctx := t.Context()
	s := f.syncer(t, 2)
	s.Start(ctx)
	s.Saved(ctx, f.jobs[0])
	s.Saved(ctx, f.jobs[3])
	rep, err := s.Finish(ctx, "results.jsonl", "metadata.jsonl")
	require.NoError(t, err)
	assert.Equal(t, 6, rep.Uploaded, "five videos and the index; no metadata file yet: nothing to copy")
	assert.Zero(t, rep.Waiting)
	assert.ElementsMatch(t, []string{"batch1/clip00.mp4", "batch1/clip01.mp4", "batch1/clip02.mp4", "batch1/clip03.mp4",
		"batch1/clip04.mp4", "batch1/results.jsonl"}, f.up.sent())
	assert.EqualValues(t, 2, f.up.puts.Load(), "the files just saved are sent without a look first; the others are looked at")

	a, err := f.client.Stat(ctx, f.to.Join("clip02.mp4"))
	require.NoError(t, err)
	assert.Equal(t, bucket.Attrs{Size: f.jobs[2].Outputs[0].Size, ContentType: "video/mp4", SHA256: f.jobs[2].Outputs[0].SHA256}, a)
	c, ok, err := f.st.CopyOf(ctx, "s3://renders/batch1/clip02.mp4")
	require.NoError(t, err)
	require.True(t, ok, "recorded under the bucket URL, without the driver's options")
	assert.Equal(t, f.jobs[2].Outputs[0].SHA256, c.SHA256)

	recorded, err := f.st.Meta(ctx, bucketsync.MetaKey)
	require.NoError(t, err)
	assert.Equal(t, f.to.String(), recorded, "verify finds the prefix in the state")

	calls := f.up.calls.Load()
	again := f.syncer(t, 2)
	again.Start(ctx)
	rep, err = again.Finish(ctx, "results.jsonl")
	require.NoError(t, err)
	assert.Equal(t, bucketsync.Report{Present: 1}, rep, "only the unchanged index is looked at")
	assert.Equal(t, calls+1, f.up.calls.Load())
	assert.Empty(t, f.up.sent())

	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "results.jsonl"), []byte("{}\n{}\n"), 0o644))
	rep, err = f.syncer(t, 2).Finish(ctx, "results.jsonl")
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Uploaded, "an index that changed is sent again")
}

// TestUnreachableBucketLeavesFilesWaiting: uploads stop at the first
// bucket failure, no local file is touched, the error says how many wait,
// and the next run with the bucket back copies exactly those.
func TestUnreachableBucketLeavesFilesWaiting(t *testing.T) {
	f := setup(t, 6)
	ctx := t.Context()
	f.up.down.Store(true)
	s := f.syncer(t, 3)
	s.Start(ctx)
	for _, j := range f.jobs {
		s.Saved(ctx, j) // never blocks on a bucket that failed
	}
	rep, err := s.Finish(ctx, "results.jsonl", "results.csv")
	var we *bucketsync.WaitingError
	require.ErrorAs(t, err, &we)
	assert.ErrorIs(t, err, bucketsync.ErrWaiting)
	assert.ErrorIs(t, err, errUnreachable)
	assert.Equal(t, 7, we.Files, "six videos and the index; no results.csv: nothing to copy")
	assert.Equal(t, 7, rep.Waiting)
	assert.LessOrEqual(t, f.up.calls.Load(), int64(3+1), "after the bucket failed, only uploads already started tried it")
	for _, j := range f.jobs {
		assert.FileExists(t, filepath.Join(f.dir, j.Outputs[0].Path))
	}

	n, err := bucketsync.Waiting(ctx, f.to, f.st)
	require.NoError(t, err)
	assert.Equal(t, 6, n)

	f.up.down.Store(false)
	rep, err = f.syncer(t, 3).Finish(ctx, "results.jsonl")
	require.NoError(t, err)
	assert.Equal(t, bucketsync.Report{Uploaded: 7, Bytes: rep.Bytes}, rep)
	assert.Len(t, f.up.sent(), 7)
}

// TestRefusedBucketSaysSo: a bucket that denies access stops the copies
// as an unreachable one does, and the error says it was refused, so the
// command can tell the user to fix the access rather than wait.
func TestRefusedBucketSaysSo(t *testing.T) {
	f := setup(t, 4)
	ctx := t.Context()
	f.up.refuse.Store(true)
	s := f.syncer(t, 2)
	s.Start(ctx)
	for _, j := range f.jobs {
		s.Saved(ctx, j)
	}
	_, err := s.Finish(ctx)
	require.ErrorIs(t, err, bucketsync.ErrWaiting)
	assert.ErrorIs(t, err, bucket.ErrDenied)
	assert.Contains(t, err.Error(), "refused access")
	assert.Contains(t, err.Error(), "credentials")
}

// TestAFileNotAsRecordedIsNotCopied: a file whose bytes are not the
// state's digest never becomes an object; it waits, the others go.
func TestAFileNotAsRecordedIsNotCopied(t *testing.T) {
	f := setup(t, 3)
	ctx := t.Context()
	bad := f.jobs[1].Outputs[0]
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, bad.Path), []byte("video of clipXX"), 0o644)) // same size
	rep, err := f.syncer(t, 2).Finish(ctx)
	var we *bucketsync.WaitingError
	require.ErrorAs(t, err, &we)
	assert.Equal(t, 1, we.Files)
	assert.NoError(t, we.Cause, "the bucket did not fail")
	assert.Equal(t, 2, rep.Uploaded)
	_, err = f.client.Stat(ctx, f.to.Join(bad.Path))
	assert.ErrorIs(t, err, bucket.ErrNotFound, "the aborted object is not there")
}

// TestUploadsAreBounded: never more uploads at once than Workers.
func TestUploadsAreBounded(t *testing.T) {
	f := setup(t, 24)
	ctx := t.Context()
	s := f.syncer(t, 3)
	s.Start(ctx)
	for _, j := range f.jobs[:12] {
		s.Saved(ctx, j)
	}
	rep, err := s.Finish(ctx)
	require.NoError(t, err)
	assert.Equal(t, 24, rep.Uploaded)
	assert.LessOrEqual(t, f.up.most.Load(), int64(3))
}

// TestStopAndCloseAreSafe: Saved before Start or after Finish does
// nothing, and a cancelled run leaves what it did not copy waiting.
func TestStopAndCloseAreSafe(t *testing.T) {
	f := setup(t, 2)
	s := f.syncer(t, 1)
	s.Saved(t.Context(), f.jobs[0])
	ctx, cancel := context.WithCancel(t.Context())
	s.Start(ctx)
	cancel()
	s.Saved(ctx, f.jobs[0])
	_, err := s.Finish(ctx)
	assert.ErrorIs(t, err, bucketsync.ErrWaiting)
	s.Saved(t.Context(), f.jobs[1])
	assert.Zero(t, f.up.calls.Load())
}

func TestMetadataName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "metadata.jsonl", bucketsync.MetadataName("results.jsonl"))
	assert.Equal(t, "metadata-1-of-4.jsonl", bucketsync.MetadataName("results-1-of-4.jsonl"))
	assert.Equal(t, "index-metadata.jsonl", bucketsync.MetadataName("index.jsonl"))
}
