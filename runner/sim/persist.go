package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// snapshotVersion is Snapshot.Version as this package writes it.
const snapshotVersion = 1

// ErrSnapshot is returned by Restore when a Snapshot cannot be taken in: a
// version this package does not know, another ID prefix or seed than the
// Server's, or a Server that already has jobs.
var ErrSnapshot = errors.New("simulator snapshot does not fit")

// Snapshot is what a Server must keep to answer for its jobs after a
// restart: a batch folder rendered on one simulator holds request IDs that
// the next one must know, or every row in flight reads "request expired".
// It is plain JSON, for a file beside the batch (the demo's).
type Snapshot struct {
	Version int `json:"version"`
	// IDPrefix and Seed are the Server's: request IDs start with the prefix,
	// and the seed signs file URLs and makes the video bytes. A Server
	// restores a Snapshot only when its Config has both.
	IDPrefix string     `json:"id_prefix"`
	Seed     int64      `json:"seed"`
	Jobs     []SavedJob `json:"jobs"`
}

// SavedJob is one job of a Snapshot.
type SavedJob struct {
	RequestID string          `json:"request_id"`
	Input     json.RawMessage `json:"input"` // canonical JSON
	// State is the job's true state (JobInfo.State); a queued or running
	// job starts again from the queue when restored.
	State      string        `json:"state"`
	CreatedAt  time.Time     `json:"created_at"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	RunTime    time.Duration `json:"run_time_ns"`
	// Fails, FailAsCompleted, FailMessage and IsStuck are the fate drawn at
	// creation, kept so that a restart does not redraw it.
	Fails           bool   `json:"fails,omitempty"`
	FailAsCompleted bool   `json:"fail_as_completed,omitempty"`
	FailMessage     string `json:"fail_message,omitempty"`
	IsStuck         bool   `json:"is_stuck,omitempty"`
	// Gone is "expired" or "other_account" after Expire or Disown.
	Gone string `json:"gone,omitempty"`
	// PriceMicro is what the job was charged, in micro-dollars: its result
	// reports it as its cost after a restart too. Absent (a snapshot
	// written before it was kept): the price of a job of Config.Model.
	PriceMicro *int64 `json:"price_micro,omitempty"`
}

var goneNames = map[gone]string{goneExpired: "expired", goneOtherAccount: "other_account"}

// Snapshot returns every job in submit order, with the account advanced to
// now. It is safe to call while the Server serves, and after Close.
func (s *Server) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock())
	snap := Snapshot{Version: snapshotVersion, IDPrefix: s.idPrefix, Seed: s.cfg.Seed,
		Jobs: make([]SavedJob, len(s.order))}
	for i, j := range s.order {
		price := j.price
		snap.Jobs[i] = SavedJob{
			RequestID: j.id, Input: bytes.Clone(j.input), State: j.state,
			CreatedAt: j.createdAt, FinishedAt: j.finishedAt, RunTime: j.runTime,
			Fails: j.fails, FailAsCompleted: j.failAsCompleted, FailMessage: j.failMessage, IsStuck: j.isStuck,
			Gone: goneNames[j.gone], PriceMicro: &price,
		}
	}
	return snap
}

// Restore takes in the jobs of snap, which must come from a Server with the
// same IDPrefix and Seed, into a Server that has no jobs yet. Jobs that had
// finished keep their outcome (their files are served again); jobs that were
// queued or running join the queue now, in their order, and run for their
// whole run time: they finish as if the simulator had paused. Counters start
// from zero, but a restored job's input counts as seen, so submitting it
// again counts as a duplicate.
func (s *Server) Restore(snap Snapshot) error {
	if snap.Version != snapshotVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrSnapshot, snap.Version, snapshotVersion)
	}
	if snap.IDPrefix != s.idPrefix || snap.Seed != s.cfg.Seed {
		return fmt.Errorf("%w: id prefix %s and seed %d, the simulator has %s and %d",
			ErrSnapshot, snap.IDPrefix, snap.Seed, s.idPrefix, s.cfg.Seed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) > 0 {
		return fmt.Errorf("%w: the simulator already has %d jobs", ErrSnapshot, len(s.order))
	}
	now := s.clock()
	for _, sj := range snap.Jobs {
		if sj.RequestID == "" || s.jobs[sj.RequestID] != nil {
			return fmt.Errorf("%w: request ID %q missing or repeated", ErrSnapshot, sj.RequestID)
		}
		j := &job{
			id: sj.RequestID, seq: int64(len(s.order)), input: bytes.Clone(sj.Input),
			createdAt: sj.CreatedAt, runTime: max(sj.RunTime, 0),
			fails: sj.Fails, failAsCompleted: sj.FailAsCompleted, failMessage: sj.FailMessage, isStuck: sj.IsStuck,
			price: s.jobPrice,
		}
		if sj.PriceMicro != nil && *sj.PriceMicro >= 0 {
			j.price = *sj.PriceMicro
		}
		for g, name := range goneNames {
			if sj.Gone == name {
				j.gone = g
			}
		}
		switch sj.State {
		case StateCompleted, StateFailed, StateCancelled:
			j.state, j.finishedAt = sj.State, sj.FinishedAt
		case StateInQueue, StateInProgress:
			j.state, j.eligibleAt = StateInQueue, now
			s.acct.enqueue(j)
		default:
			return fmt.Errorf("%w: job %s has state %q", ErrSnapshot, sj.RequestID, sj.State)
		}
		s.jobs[j.id] = j
		s.order = append(s.order, j)
		s.seen[string(j.input)] = struct{}{}
	}
	return nil
}
