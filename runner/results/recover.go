package results

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/store"
)

// RecoverReport is what Recover rebuilt.
type RecoverReport struct {
	Index     string    `json:"index"`
	IndexTime time.Time `json:"index_written_at"`
	StateFile string    `json:"state_file"`
	Jobs      int       `json:"jobs"`
	// Done rows have every file present with its recorded size.
	Done int `json:"done"`
	// Refetch rows were done, but a file is missing or has another size:
	// they are polled again by request ID and downloaded (no new render).
	Refetch int `json:"refetch"`
	// InFlight rows have a request ID and no result yet: a run polls them.
	InFlight int `json:"in_flight"`
	// Uncertain rows were caught mid-submit: the run's uncertain-submit
	// policy applies to them.
	Uncertain int `json:"uncertain"`
	Pending   int `json:"pending"`
	// Finished rows failed, were cancelled, timed out or expired.
	Finished int `json:"finished"`
	// Journaled are request IDs from the recovery journal, applied after
	// the index.
	Journaled int `json:"journaled"`
	// SkippedLines of the index were longer than any entry and not
	// rebuilt (their rows, if any, are submitted again by a run). The
	// text output names them; recover --json has never carried them.
	SkippedLines []int `json:"-"`
}

// Recover rebuilds the state file at statePath, which must not exist, from
// the results index at indexPath that runs leave in the output folder dir.
// Every job keeps its request ID, so that a run polls it instead of
// submitting it again; a done job stays done when its files are present
// with the recorded sizes, and is fetched again by its request ID
// otherwise. The index is written at the end of each run: jobs submitted
// after the last one was written are not in it (see RecoverReport.IndexTime),
// except those in the recovery journal.
func Recover(ctx context.Context, dir, indexPath, statePath string, owner store.Owner) (RecoverReport, error) {
	rep := RecoverReport{Index: indexPath, StateFile: statePath}
	f, err := store.OpenRegular(indexPath, os.O_RDONLY, 0)
	if err != nil {
		return rep, fmt.Errorf("recover from %s: %w", indexPath, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		rep.IndexTime = fi.ModTime().UTC()
	}
	if _, err := os.Lstat(statePath); !errors.Is(err, fs.ErrNotExist) {
		return rep, fmt.Errorf("recover: %s exists; move it aside first", statePath)
	}
	// Read the whole index before creating the state: an unreadable index
	// must not leave a half-built state behind.
	var jobs []store.Job
	err = Scan(f, func(_ int, e Entry) error {
		j, err := jobFromIndex(dir, e, &rep)
		if err != nil {
			return err
		}
		jobs = append(jobs, j)
		return nil
	})
	if long := (*LongLinesError)(nil); errors.As(err, &long) {
		// The other lines are rebuilt; these are named for the user.
		rep.SkippedLines, err = long.Lines, nil
	}
	if le := (*LineError)(nil); errors.As(err, &le) {
		return rep, fmt.Errorf("recover: %s:%d: %w", indexPath, le.Line, le.Err)
	} else if err != nil {
		return rep, fmt.Errorf("recover: read %s: %w", indexPath, err)
	}

	// The state file rebuilt is the batch's own: so is its journal.
	batch, err := store.JournalBatch(statePath)
	if err != nil {
		return rep, fmt.Errorf("recover: %w", err)
	}
	st, err := store.Open(statePath, store.Options{Owner: owner, BatchID: batch})
	if err != nil {
		return rep, err
	}
	for _, j := range jobs {
		if err := st.Put(ctx, j); err != nil {
			_ = st.Close()
			return rep, fmt.Errorf("recover: %w", err)
		}
	}
	if err := st.Close(); err != nil {
		return rep, err
	}
	// Reopen: the journal is applied over what the index said.
	st, err = store.Open(statePath, store.Options{Owner: owner})
	if err != nil {
		return rep, err
	}
	rep.Journaled = len(st.Journaled())
	return rep, st.Close()
}

// jobFromIndex turns an index line back into a job record and counts it.
func jobFromIndex(dir string, e Entry, rep *RecoverReport) (store.Job, error) {
	if e.Key == "" {
		return store.Job{}, errors.New("a line without a key")
	}
	var in manifest.Input
	if err := json.Unmarshal(e.Input, &in); err != nil {
		return store.Job{}, fmt.Errorf("job %q: its input: %w", e.Key, err)
	}
	j := store.Job{Key: e.Key, ParamHash: in.Hash(), Line: e.Line, Input: e.Input, State: e.State,
		RequestID: e.RequestID, Attempts: e.Attempts, Polls: e.Polls, LastError: e.Error,
		SubmittedAt: e.SubmittedAt, FinishedAt: e.FinishedAt, DownloadedAt: e.DownloadedAt, Columns: e.Columns,
		CostUSD: e.CostUSD} // what the API charged: never re-estimated
	for _, fr := range e.Files {
		j.Outputs = append(j.Outputs, store.Output{Path: fr.Path, Size: fr.Size, SHA256: fr.SHA256})
	}
	rep.Jobs++
	switch e.State {
	case store.StateDone:
		if len(j.Outputs) > 0 && filesPresent(dir, j.Outputs) {
			rep.Done++
			return j, nil
		}
		// The result URLs are not in the index (they are credentials):
		// poll the request ID for fresh ones.
		rep.Refetch++
		j.State, j.Outputs, j.DownloadedAt = store.StateSubmitted, nil, time.Time{}
	case store.StateRendered:
		rep.InFlight++
		j.State, j.Outputs = store.StateSubmitted, nil
	case store.StateSubmitted, store.StateQueued, store.StateRunning:
		rep.InFlight++
	case store.StateSubmitting, store.StateUncertain:
		rep.Uncertain++
		j.State, j.RequestID = store.StateUncertain, ""
		if j.LastError == "" {
			j.LastError = "submit outcome unknown (recovered from the index)"
		}
	case store.StatePending:
		rep.Pending++
	case store.StateFailed, store.StateCancelled, store.StateTimedOut, store.StateExpired:
		rep.Finished++
	default:
		return store.Job{}, fmt.Errorf("job %q: unknown state %q", e.Key, e.State)
	}
	if j.State.HasRequestID() && j.RequestID == "" {
		return store.Job{}, fmt.Errorf("job %q: state %s without a request ID", e.Key, e.State)
	}
	return j, nil
}

// filesPresent reports whether every output is in dir with its recorded
// size (the check a run makes, by stat; verify re-hashes).
func filesPresent(dir string, outs []store.Output) bool {
	for _, o := range outs {
		if o.Path == "" || !filepath.IsLocal(o.Path) {
			return false
		}
		fi, err := os.Lstat(filepath.Join(dir, o.Path))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != o.Size {
			return false
		}
	}
	return true
}
