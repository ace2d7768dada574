package runner_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// brokenFS is the real file system with one way of failing switched on.
// Tests run as root, where chmod proves nothing, so failures are injected here.
type brokenFS struct {
	runner.OSFS
	// room is how many bytes writes may still add before the disk is full;
	// negative means unlimited.
	room atomic.Int64
	// openErr, renameErr and syncErr, when set, fail those calls on files
	// in the output folder.
	openErr, renameErr, syncErr error
	failures                    atomic.Int64
}

func newBrokenFS(room int64) *brokenFS {
	fs := &brokenFS{}
	fs.room.Store(room)
	return fs
}

func (fs *brokenFS) fail(op, path string, err error) error {
	fs.failures.Add(1)
	return &os.PathError{Op: op, Path: path, Err: err}
}

func (fs *brokenFS) OpenFile(name string, flag int, perm os.FileMode) (runner.File, error) {
	if fs.openErr != nil && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		return nil, fs.fail("open", name, fs.openErr)
	}
	f, err := fs.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &brokenFile{File: f, fs: fs, name: name}, nil
}

func (fs *brokenFS) Rename(oldpath, newpath string) error {
	if fs.renameErr != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.renameErr}
	}
	return fs.OSFS.Rename(oldpath, newpath)
}

type brokenFile struct {
	runner.File
	fs   *brokenFS
	name string
}

// Write writes what still fits and fails with ENOSPC, as write(2) does on
// a full disk.
func (f *brokenFile) Write(p []byte) (int, error) {
	room := f.fs.room.Load()
	if room < 0 {
		return f.File.Write(p)
	}
	n := min(int64(len(p)), room)
	f.fs.room.Add(-n)
	written, err := f.File.Write(p[:n])
	if err != nil {
		return written, err
	}
	if written < len(p) {
		return written, f.fs.fail("write", f.name, syscall.ENOSPC)
	}
	return written, nil
}

func (f *brokenFile) Sync() error {
	if f.fs.syncErr != nil {
		return f.fs.fail("sync", f.name, f.fs.syncErr)
	}
	return f.File.Sync()
}

// TestOutputFailuresStopTheRun injects the ways an output folder fails
// through the runner's FS seam: the run must stop with ErrOutput (exit 73
// in cmd), leave no partial file under a final name and a consistent
// store, and a later run on a healthy disk must finish without rendering
// anything again.
func TestOutputFailuresStopTheRun(t *testing.T) {
	t.Parallel()
	const rows = 40
	const videoSize = 8 << 10
	for _, tc := range []struct {
		name  string
		fs    func() *brokenFS
		cause error
	}{
		// Room for three videos and half of a fourth.
		{"disk full mid-file", func() *brokenFS { return newBrokenFS(3*videoSize + videoSize/2) }, syscall.ENOSPC},
		{"disk full from the start", func() *brokenFS { return newBrokenFS(0) }, syscall.ENOSPC},
		{"folder not writable", func() *brokenFS {
			fs := newBrokenFS(-1)
			fs.openErr = syscall.EACCES
			return fs
		}, syscall.EACCES},
		{"read-only file system at rename", func() *brokenFS {
			fs := newBrokenFS(-1)
			fs.renameErr = syscall.EROFS
			return fs
		}, syscall.EROFS},
		{"fsync fails", func() *brokenFS {
			fs := newBrokenFS(-1)
			fs.syncErr = syscall.EIO
			return fs
		}, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, rows, sim.Config{VideoSize: videoSize})
			fs := tc.fs()
			sum, err := e.runOnce(t.Context(), func(c *runner.Config) { c.FS = fs })
			require.ErrorIs(t, err, runner.ErrOutput, "summary %+v", sum)
			require.ErrorIs(t, err, tc.cause)
			assert.Contains(t, err.Error(), "output folder cannot be written")
			t.Logf("run stopped: %v", err)

			jobs := e.jobs()
			done := e.assertConsistentAfterStop(jobs)
			assert.Less(t, done, rows, "the run stopped before the end")
			before := e.sim.Counters()

			// A healthy disk: everything is collected, nothing is rendered twice.
			_, err = e.runOnce(t.Context(), nil)
			require.NoError(t, err)
			e.assertAllDownloaded(rows)
			after := e.sim.Counters()
			assert.EqualValues(t, rows, after.Submits)
			assert.Zero(t, after.DuplicateSubmits)
			assert.GreaterOrEqual(t, after.Submits, before.Submits)
			assertNoPartFiles(t, e.out)
		})
	}
}

// assertConsistentAfterStop checks the store and the output folder after a
// run that stopped early: no row is in doubt, every done row's file is
// complete, and every file under a final name is a complete render.
// It returns the number of done rows.
func (e *env) assertConsistentAfterStop(jobs map[string]store.Job) int {
	t := e.t
	t.Helper()
	done := 0
	for key, j := range jobs {
		assert.NotEqual(t, store.StateSubmitting, j.State, "row %s", key)
		assert.NotEqual(t, store.StateUncertain, j.State, "row %s", key)
		if j.State == store.StateDone {
			done++
			got, err := os.ReadFile(filepath.Join(e.out, j.Outputs[0].Path))
			require.NoError(t, err, "row %s is done, so its file exists", key)
			want, _ := e.sim.Video(j.RequestID, 0)
			assert.True(t, bytes.Equal(want, got), "row %s", key)
		}
	}
	entries, err := os.ReadDir(e.out)
	require.NoError(t, err)
	for _, ent := range entries {
		key, ok := strings.CutSuffix(ent.Name(), ".mp4")
		if !ok {
			continue
		}
		j, known := jobs[key]
		require.True(t, known, "file %s belongs to a row", ent.Name())
		got, err := os.ReadFile(filepath.Join(e.out, ent.Name()))
		require.NoError(t, err)
		want, ok := e.sim.Video(j.RequestID, 0)
		require.True(t, ok, "file %s: the row has a finished render", ent.Name())
		assert.True(t, bytes.Equal(want, got), "file %s under its final name is complete", ent.Name())
	}
	return done
}

// assertNoPartFiles checks that no temporary download file is left.
func assertNoPartFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, ent := range entries {
		assert.False(t, strings.HasSuffix(ent.Name(), ".part"), "temporary file left: %s", ent.Name())
	}
}
