package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenLockedInProcess checks that bbolt's flock, taken per open file
// description, also stops a second Store in the same process.
func TestOpenLockedInProcess(t *testing.T) {
	t.Parallel()
	f := setup(t)

	s, err := Open(f.path, Options{})
	assert.Nil(t, s)
	var lerr *LockedError
	require.ErrorAs(t, err, &lerr)
	assert.ErrorIs(t, err, ErrLocked)
	assert.Equal(t, f.path, lerr.Path)
	require.NotNil(t, lerr.Owner)
	assert.Equal(t, os.Getpid(), lerr.Owner.PID)
	assert.Equal(t, "store test", lerr.Owner.Command)

	_, err = Open(f.path, Options{ReadOnly: true})
	assert.ErrorIs(t, err, ErrLocked, "readers wait for the writer")
	// The failed Opens closed their own descriptors; with fcntl locks that
	// would have dropped the holder's lock, with flock it must not.
	_, err = Open(f.path, Options{LockTimeout: -1})
	assert.ErrorIs(t, err, ErrLocked, "the holder still has the lock")
	require.NoError(t, f.store.Put(context.Background(), newJob("a")), "and can still write")

	require.NoError(t, f.store.Close())
	s, err = Open(f.path, Options{})
	require.NoError(t, err, "Close releases the lock")
	require.NoError(t, s.Close())
}

func TestOpenLockedByOtherProcess(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), ".pikabatch.db")
	h := startHelper(t, "hold", path, "")
	require.Equal(t, "ready", h.readLine(t))

	_, err := Open(path, Options{})
	var lerr *LockedError
	require.ErrorAs(t, err, &lerr)
	assert.ErrorIs(t, err, ErrLocked)
	require.NotNil(t, lerr.Owner, "owner file names the holder")
	assert.Equal(t, h.cmd.Process.Pid, lerr.Owner.PID)
	assert.Equal(t, holderCommand, lerr.Owner.Command)
	host, _ := os.Hostname()
	assert.Equal(t, host, lerr.Owner.Host)
	assert.Contains(t, err.Error(), fmt.Sprintf("is in use by pid %d on host %s since ", h.cmd.Process.Pid, host))
	assert.Contains(t, err.Error(), "("+holderCommand+")")

	require.NoError(t, h.stdin.Close()) // let the holder Close
	require.NoError(t, h.wait(), h.stderr.String())
	assert.NoFileExists(t, ownerPath(path))
	s, err := Open(path, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	h := startHelper(t, "exit", "", "")
	require.NoError(t, h.wait())
	return h.cmd.Process.Pid
}

func writeOwnerFile(t *testing.T, path string, o Owner) {
	t.Helper()
	data, err := json.Marshal(o)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(ownerPath(path), data, 0o644))
}

func TestStaleOwnerFile(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns a process")
	}
	host, _ := os.Hostname()
	dead := Owner{PID: deadPID(t), Host: host, StartedAt: time.Now().Add(-time.Hour), Command: "pikabatch run (crashed)"}

	t.Run("does not block Open", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), ".pikabatch.db")
		writeOwnerFile(t, path, dead)
		s, err := Open(path, Options{Owner: CurrentOwner("new run")})
		require.NoError(t, err)
		defer func() { assert.NoError(t, s.Close()) }()

		data, err := os.ReadFile(ownerPath(path))
		require.NoError(t, err)
		var o Owner
		require.NoError(t, json.Unmarshal(data, &o))
		assert.Equal(t, os.Getpid(), o.PID, "the new holder replaces the stale owner")
		assert.Equal(t, "new run", o.Command)
	})

	// The lock held, the owner file wrong: the error must not name a dead
	// process or garbage.
	for name, content := range map[string]func(path string){
		"dead owner":    func(path string) { writeOwnerFile(t, path, dead) },
		"garbage owner": func(path string) { require.NoError(t, os.WriteFile(ownerPath(path), []byte("{pid:"), 0o644)) },
		"no owner":      func(path string) { require.NoError(t, os.Remove(ownerPath(path))) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			content(f.path)
			_, err := Open(f.path, Options{LockTimeout: -1})
			var lerr *LockedError
			require.ErrorAs(t, err, &lerr)
			assert.Nil(t, lerr.Owner)
			assert.EqualError(t, err, "state file "+f.path+" is in use by another process")
		})
	}
}

func TestLockedErrorMessage(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		owner *Owner
		want  string
	}{
		{"full", &Owner{PID: 4242, Host: "box", StartedAt: since, Command: "pikabatch run jobs.csv"},
			"state file out/.pikabatch.db is in use by pid 4242 on host box since 2026-11-25T09:00:00Z (pikabatch run jobs.csv)"},
		{"local time shown in UTC", &Owner{PID: 4242, Host: "box", StartedAt: since.In(time.FixedZone("CET", 3600))},
			"state file out/.pikabatch.db is in use by pid 4242 on host box since 2026-11-25T09:00:00Z"},
		{"pid only", &Owner{PID: 4242},
			"state file out/.pikabatch.db is in use by pid 4242"},
		{"unknown", nil,
			"state file out/.pikabatch.db is in use by another process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := error(&LockedError{Path: "out/.pikabatch.db", Owner: tt.owner})
			assert.EqualError(t, err, tt.want)
			assert.ErrorIs(t, err, ErrLocked)
		})
	}
}

func TestCurrentOwner(t *testing.T) {
	t.Parallel()
	o := CurrentOwner("pikabatch run")
	assert.Equal(t, os.Getpid(), o.PID)
	assert.Equal(t, "pikabatch run", o.Command)
	assert.WithinDuration(t, time.Now(), o.StartedAt, time.Minute)
}
