package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The recovery journal holds request IDs the store could not take.
//
// A submit that the API accepted is a paid job, reachable only by its
// request ID. If the store cannot record that ID (a full volume, an I/O
// error), losing it means paying for the row again on the next run. So the
// ID goes to a small append-only file beside the state, <state>.journal,
// one JSON line per job, fsynced; the next writable Open applies it to the
// store and removes it. A line is a few dozen bytes, which a volume too full
// for a bbolt page usually still takes, and the log has it in any case.

// JournalEntry is one line of the recovery journal.
type JournalEntry struct {
	Key       string    `json:"key"`
	RequestID string    `json:"request_id"`
	Time      time.Time `json:"time"`
}

// JournalPath returns the recovery journal of the state file at statePath.
func JournalPath(statePath string) string { return statePath + ".journal" }

// journalMu serialises appends within the process, so that lines never
// interleave (O_APPEND makes each write atomic, but a line may take two).
var journalMu sync.Mutex

// AppendJournal durably appends e to the recovery journal of the state
// file at statePath, creating it if needed. It does not need the store to
// be open, or writable.
func AppendJournal(statePath string, e JournalEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	journalMu.Lock()
	defer journalMu.Unlock()
	path := JournalPath(statePath)
	_, statErr := os.Lstat(path)
	f, err := OpenRegular(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: journal: %w", err)
	}
	_, err = f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && errors.Is(statErr, fs.ErrNotExist) {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("store: journal %s: %w", path, err)
	}
	return nil
}

// Journal appends a request ID the store could not take to its recovery
// journal (see AppendJournal); the next writable Open applies it.
func (s *Store) Journal(_ context.Context, key, requestID string, at time.Time) error {
	return AppendJournal(s.path, JournalEntry{Key: key, RequestID: requestID, Time: at.UTC()})
}

// Apply records e's request ID in j, as Open does, and reports whether it
// changed j: a job that already holds the request ID of a live or finished
// render keeps it.
func (e JournalEntry) Apply(j *Job) bool {
	if j.RequestID != "" && (j.State.isLive() || j.State.IsTerminal()) {
		return false
	}
	j.State, j.RequestID, j.LastError = StateSubmitted, e.RequestID, ""
	j.SubmittedAt = e.Time
	j.Outputs, j.FinishedAt, j.DownloadedAt = nil, time.Time{}, time.Time{}
	return true
}

// Job is the record Open writes for an entry whose key the store does not
// know: its request ID without the row's parameters, so that a run reports
// the row as changed instead of paying for it again.
func (e JournalEntry) Job() Job {
	return Job{Key: e.Key, State: StateSubmitted, RequestID: e.RequestID, SubmittedAt: e.Time,
		LastError: "recovered from the journal: the row's parameters were not recorded"}
}

// ReadJournal returns the recovery journal's entries for the state file at
// statePath (none when there is no journal), for a reader that does not
// apply them (a dry run).
func ReadJournal(statePath string) ([]JournalEntry, error) {
	return readJournal(JournalPath(statePath))
}

// readJournal returns the entries of the journal at path; a line cut short
// by a crash, or otherwise unreadable, is skipped.
func readJournal(path string) ([]JournalEntry, error) {
	f, err := OpenRegular(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []JournalEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e JournalEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Key != "" && e.RequestID != "" {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}

// applyJournal records every request ID of the journal in the store: the
// row becomes submitted with that ID, so that a run polls it instead of
// paying for it again. Then the journal is removed. A row that already has
// a request ID of a live or finished render keeps it (the journal then only repeats what the
// log said). A key the store does not know is added with the ID and no
// parameters: a run reports it as changed instead of submitting it again.
func (s *Store) applyJournal(ctx context.Context) ([]JournalEntry, error) {
	path := JournalPath(s.path)
	entries, err := readJournal(path)
	if err != nil {
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	if entries == nil {
		if _, err := os.Lstat(path); err != nil {
			return nil, nil
		}
	}
	for _, e := range entries {
		_, err := s.Update(ctx, e.Key, func(j *Job) error {
			e.Apply(j)
			return nil
		})
		if errors.Is(err, ErrNotFound) {
			err = s.Put(ctx, e.Job())
		}
		if err != nil {
			return nil, fmt.Errorf("apply journal %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove applied journal: %w", err)
	}
	return entries, nil
}
