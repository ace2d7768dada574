package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// JournalEntry is one line of the recovery journal. Batch is the batch
// identity of the state file that wrote it (Store.BatchID): a journal
// copied beside another batch's state file would otherwise file that
// batch's request IDs, and its videos, as this one's rows.
type JournalEntry struct {
	Batch     string    `json:"batch,omitempty"`
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
	return AppendJournal(s.path, JournalEntry{Batch: s.batchID, Key: key, RequestID: requestID, Time: at.UTC()})
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

// maxJournalLine is the longest journal line read: a line is a few dozen
// bytes, so a longer one is not the journal's.
const maxJournalLine = 1 << 20

// ReadJournal returns the recovery journal's entries for the state file at
// statePath (none when there is no journal), for a reader that does not
// apply them (a dry run), and the lines Open would refuse (see
// readJournal). batch is the state file's identity (BatchID): a journal
// of another batch is an ErrJournal, as Open would refuse it.
func ReadJournal(statePath, batch string) ([]JournalEntry, []*JournalLineError, error) {
	return readJournal(JournalPath(statePath), batch)
}

// JournalLineError is a line of the recovery journal that was not
// applied: it cannot be read, or it is longer than any entry.
type JournalLineError struct {
	Path string
	Line int
	Why  string
}

func (e *JournalLineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Why) }

// readJournal returns the entries of the journal at path, which must all
// be of batch (or name none, for a state file from before batches had an
// identity): a line of another batch refuses the whole journal
// (ErrJournal). A line that cannot be read, or is longer than
// maxJournalLine, is refused alone and returned in bad; a last line cut
// short by a crash is skipped.
func readJournal(path, batch string) (entries []JournalEntry, bad []*JournalLineError, err error) {
	f, err := OpenRegular(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		line, long, err := ReadLine(br, maxJournalLine)
		if errors.Is(err, io.EOF) && len(line) == 0 && !long {
			return entries, bad, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		torn := errors.Is(err, io.EOF) // no line feed: the write was cut short
		var e JournalEntry
		switch {
		case torn && (long || json.Unmarshal(line, &e) != nil):
		case long:
			bad = append(bad, &JournalLineError{Path: path, Line: n, Why: fmt.Sprintf("the line is longer than %d bytes", maxJournalLine)})
		case json.Unmarshal(line, &e) != nil || e.Key == "" || e.RequestID == "":
			bad = append(bad, &JournalLineError{Path: path, Line: n, Why: "the line is not a journal entry"})
		case e.Batch != batch:
			return nil, nil, fmt.Errorf("%w: %s:%d: the line belongs to batch %q, not to this state file's (%q); nothing of it was applied. Move the journal aside to go on (if it is this batch's, its lines are request IDs of jobs already paid for: a run without them submits those rows again)",
				ErrJournal, path, n, e.Batch, batch)
		default:
			entries = append(entries, e)
		}
		if torn {
			return entries, bad, nil
		}
	}
}

// ReadLine reads one line from br without its line feed, holding at most
// limit bytes of it: long reports a longer line, whose rest is read and
// dropped. err is io.EOF at the end, with the last line if it has no line
// feed. The journal and the results index are read with it, so that one
// overlong line is refused alone instead of ending the read.
func ReadLine(br *bufio.Reader, limit int) (line []byte, long bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(line)+len(chunk) > limit+1 {
				long, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			return line, long, err
		case long:
			return nil, true, nil
		}
		return line[:len(line)-1], false, nil
	}
}

// applyJournal records every request ID of the journal in the store: the
// row becomes submitted with that ID, so that a run polls it instead of
// paying for it again. Then the journal is removed. A row that already has
// a request ID of a live or finished render keeps it (the journal then only repeats what the
// log said). A key the store does not know is added with the ID and no
// parameters: a run reports it as changed instead of submitting it again.
func (s *Store) applyJournal(ctx context.Context) ([]JournalEntry, error) {
	path := JournalPath(s.path)
	entries, bad, err := readJournal(path, s.batchID)
	if err != nil {
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	if entries == nil && bad == nil {
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
	if len(bad) > 0 {
		// The lines refused are kept for the user to read, not dropped.
		aside := path + ".refused-" + s.now().UTC().Format("20060102T150405Z")
		if err := os.Rename(path, aside); err != nil {
			return nil, fmt.Errorf("keep refused journal lines: %w", err)
		}
		s.journalRefused, s.journalAside = bad, aside
		return entries, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove applied journal: %w", err)
	}
	return entries, nil
}

// JournalRefused returns the recovery journal's lines Open did not apply
// (it applied the others), and the file it kept the journal as.
func (s *Store) JournalRefused() (lines []*JournalLineError, keptAs string) {
	return s.journalRefused, s.journalAside
}

// Journaled returns the recovery journal entries Open applied: request IDs
// an earlier run could not record in the state file, now recorded.
func (s *Store) Journaled() []JournalEntry { return s.journaled }
