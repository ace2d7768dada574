package store

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Owner identifies the process holding the store. It is written beside the
// state file (<path>.owner) so that a second process can name it.
type Owner struct {
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	StartedAt time.Time `json:"started_at"`
	// Command says what the holder is doing, e.g. "pikabatch run jobs.csv".
	// It is written to a plain file: it must not contain a secret.
	Command string `json:"command,omitempty"`
}

// CurrentOwner returns this process as an Owner, started now.
func CurrentOwner(command string) Owner {
	host, _ := os.Hostname() // the owner file is informational; no host is better than no run
	return Owner{
		PID:       os.Getpid(),
		Host:      host,
		StartedAt: time.Now().UTC(),
		Command:   command,
	}
}

// LockedError is returned by Open when the state file is held by another live
// process, or by another Store in this process. errors.Is(err, ErrLocked)
// holds.
type LockedError struct {
	Path  string
	Owner *Owner // nil if unknown: no owner file, or it names a dead process
}

// Error names the holder, e.g. `state file out/.pikabatch.db is in use by
// pid 4242 on host box since 2026-11-25T09:00:00Z (pikabatch run jobs.csv)`.
func (e *LockedError) Error() string {
	o := e.Owner
	if o == nil {
		return fmt.Sprintf("state file %s is in use by another process", e.Path)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state file %s is in use by pid %d", e.Path, o.PID)
	if o.Host != "" {
		fmt.Fprintf(&b, " on host %s", o.Host)
	}
	if !o.StartedAt.IsZero() {
		fmt.Fprintf(&b, " since %s", o.StartedAt.UTC().Format(time.RFC3339))
	}
	if o.Command != "" {
		fmt.Fprintf(&b, " (%s)", o.Command)
	}
	return b.String()
}

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }

func ownerPath(path string) string { return path + ".owner" }

// writeOwner replaces the owner file atomically, so that a reader sees the
// old owner or the new one, never half a file. Only the lock holder calls it,
// so a fixed temp name is safe; whatever is at that name (a temp left by a
// crash, or a symbolic link planted there) is removed first, and the temp
// is created with O_EXCL, which never writes through a link. The rename
// replaces a link at the owner file's name, never follows it.
// It is not fsynced: after a power cut the owner is gone anyway.
func writeOwner(path string, o Owner) error {
	data, err := json.Marshal(o)
	if err != nil {
		return err
	}
	tmp := ownerPath(path) + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(data, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, ownerPath(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// readOwner returns the owner recorded beside path, or nil when there is
// none, it doesn't parse, or it names a process on this host that has died
// (its file outlived it, so it would name the wrong holder).
func readOwner(path string) *Owner {
	data, err := readRegular(ownerPath(path))
	if err != nil {
		return nil
	}
	var o Owner
	if err := json.Unmarshal(data, &o); err != nil || o.PID <= 0 {
		return nil
	}
	if host, err := os.Hostname(); err == nil && host == o.Host && !processAlive(o.PID) {
		return nil
	}
	return &o
}
