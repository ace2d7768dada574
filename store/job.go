package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// State is where a job is in its life. The transitions are in the package
// doc, "Job states".
type State string

// The states of a job.
const (
	StatePending    State = "pending"
	StateSubmitting State = "submitting" // written durably BEFORE the submit POST is sent
	StateUncertain  State = "uncertain"  // submit outcome unknown (may have created a paid job)
	StateSubmitted  State = "submitted"  // request ID known
	StateQueued     State = "queued"
	StateRunning    State = "running"
	StateRendered   State = "rendered" // completed on the API, outputs known, not yet downloaded
	StateDone       State = "done"     // file(s) on disk under final name, size+hash recorded
	StateFailed     State = "failed"
	StateCancelled  State = "cancelled"
	StateTimedOut   State = "timed_out"
	StateExpired    State = "expired" // API no longer knows the request ID (404): render lost
)

// AllStates returns every state in life order. The slice is new on each call.
func AllStates() []State {
	return []State{
		StatePending, StateSubmitting, StateUncertain, StateSubmitted,
		StateQueued, StateRunning, StateRendered, StateDone,
		StateFailed, StateCancelled, StateTimedOut, StateExpired,
	}
}

// IsValid reports whether s is one of AllStates.
func (s State) IsValid() bool {
	switch s {
	case StatePending, StateSubmitting, StateUncertain, StateSubmitted,
		StateQueued, StateRunning, StateRendered, StateDone,
		StateFailed, StateCancelled, StateTimedOut, StateExpired:
		return true
	}
	return false
}

// IsTerminal reports whether a job in state s needs no more work in this
// run: done, failed, cancelled, timed_out or expired.
func (s State) IsTerminal() bool {
	switch s {
	case StateDone, StateFailed, StateCancelled, StateTimedOut, StateExpired:
		return true
	}
	return false
}

// HasRequestID reports whether every job in state s holds a request ID:
// submitted, queued, running, rendered and done. The store refuses to write a
// job in one of these states without one.
//
// It is about the state class, not one job: failed, cancelled, timed_out and
// expired jobs usually hold the request ID too (failed does not when the API
// rejected the submit), so callers that need it check Job.RequestID.
func (s State) HasRequestID() bool {
	switch s {
	case StateSubmitted, StateQueued, StateRunning, StateRendered, StateDone:
		return true
	}
	return false
}

// isLive reports whether a job in state s has a render on the API that only
// its request ID can reach.
func (s State) isLive() bool {
	return s.HasRequestID() && !s.IsTerminal()
}

// Output is one result file of a job.
type Output struct {
	// URL is the result file's URL as the API gave it (may be pre-signed).
	// The store keeps it only until the job is done: such URLs expire, and
	// a file that goes missing later is fetched again with fresh URLs from
	// the result endpoint. Records written before held it for done jobs too.
	URL    string `json:"url,omitempty"`
	Path   string `json:"path,omitempty"`   // final file name relative to the output folder, e.g. "clip1.mp4"
	Size   int64  `json:"size,omitempty"`   // bytes
	SHA256 string `json:"sha256,omitempty"` // hex
}

// Job is the checkpoint of one manifest row. It is stored as JSON, so fields
// added later decode as their zero value from older files.
//
// State, Orphan, Attempts and CostUSD come first, in this order: a scan
// that needs only them (Store.ForEachBrief: status) reads them off the
// front of a record instead of decoding it. Add new fields after them.
type Job struct {
	State    State `json:"state"`
	Orphan   bool  `json:"orphan,omitempty"` // no row of the last manifest read whole claims it (Store.Unclaimed)
	Attempts int   `json:"attempts"`         // submit attempts sent (including re-sends)
	// CostUSD is what the API reported the job cost (the result's "cost");
	// nil when it did not say, which is unknown, not free.
	CostUSD      *float64        `json:"cost_usd,omitempty"`
	Key          string          `json:"key"`
	ParamHash    string          `json:"param_hash"`
	Line         int             `json:"line,omitempty"`  // manifest line, informational
	Input        json.RawMessage `json:"input,omitempty"` // the submit body
	RequestID    string          `json:"request_id,omitempty"`
	Resent       int             `json:"resent,omitempty"` // uncertain submits re-sent
	Polls        int             `json:"polls,omitempty"`  // status/result calls spent on this job
	LastError    string          `json:"last_error,omitempty"`
	Outputs      []Output        `json:"outputs,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	SubmittedAt  time.Time       `json:"submitted_at,omitzero"`
	FinishedAt   time.Time       `json:"finished_at,omitzero"` // API-side completion/failure observed
	DownloadedAt time.Time       `json:"downloaded_at,omitzero"`
	UpdatedAt    time.Time       `json:"updated_at"`
	// Columns are the manifest columns kept with the job (manifest.Row.Kept,
	// a JSON object of at most manifest.MaxKeptBytes), for the results index
	// and exports, which have no manifest to read them from.
	Columns json.RawMessage `json:"columns,omitempty"`
}

// lean drops what a job no longer needs once done: its result URLs.
// Outputs is copied first, since the caller may share its backing array.
func (j *Job) lean() {
	if j.State != StateDone {
		return
	}
	for i := range j.Outputs {
		if j.Outputs[i].URL != "" {
			j.Outputs = append([]Output(nil), j.Outputs...)
			for k := range j.Outputs {
				j.Outputs[k].URL = ""
			}
			return
		}
	}
}

// Brief is what a scan learns of a job without decoding its record.
type Brief struct {
	State    State
	Orphan   bool
	Attempts int
	CostUSD  *float64
}

// briefPrefix starts every record written since State and Orphan came first
// in Job.
var briefPrefix = []byte(`{"state":"`)

// readBrief reads the Brief of a stored record: off its front when it was
// written with Job's leading fields first, else by decoding those fields.
func readBrief(v []byte) (Brief, error) {
	if b, ok := frontBrief(v); ok {
		return b, nil
	}
	var rec struct {
		State    State    `json:"state"`
		Orphan   bool     `json:"orphan"`
		Attempts int      `json:"attempts"`
		CostUSD  *float64 `json:"cost_usd"`
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return Brief{}, err
	}
	return Brief{State: rec.State, Orphan: rec.Orphan, Attempts: rec.Attempts, CostUSD: rec.CostUSD}, nil
}

// frontBrief reads a Brief off the front of a record that encoding/json
// wrote from a Job: {"state":"…"[,"orphan":true],"attempts":N[,"cost_usd":X],…
// Anything else is not ok, and left to the decoder.
func frontBrief(v []byte) (Brief, bool) {
	rest, ok := bytes.CutPrefix(v, briefPrefix)
	if !ok {
		return Brief{}, false
	}
	// A state is a plain word: no escapes, so the next quote ends it.
	end := bytes.IndexByte(rest, '"')
	if end <= 0 {
		return Brief{}, false
	}
	b := Brief{State: State(rest[:end])}
	rest = rest[end+1:]
	// Orphan is written only when true.
	if r, ok := bytes.CutPrefix(rest, []byte(`,"orphan":true`)); ok {
		b.Orphan, rest = true, r
	}
	num, rest, ok := frontNumber(rest, `,"attempts":`)
	if !ok {
		return Brief{}, false
	}
	n, err := strconv.Atoi(string(num))
	if err != nil {
		return Brief{}, false
	}
	b.Attempts = n
	if num, _, ok := frontNumber(rest, `,"cost_usd":`); ok {
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil {
			return Brief{}, false
		}
		b.CostUSD = &f
	}
	return b, true
}

// frontNumber cuts name off the front of v and returns the JSON number after
// it and what follows the number.
func frontNumber(v []byte, name string) (num, rest []byte, ok bool) {
	r, ok := bytes.CutPrefix(v, []byte(name))
	if !ok {
		return nil, v, false
	}
	end := bytes.IndexAny(r, ",}")
	if end <= 0 {
		return nil, v, false
	}
	return r[:end], r[end:], true
}

// validate checks what the store promises about every stored job.
func (j *Job) validate() error {
	switch {
	case j.Key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidJob)
	case len(j.Key) > bolt.MaxKeySize:
		return fmt.Errorf("%w: key is %d bytes, limit %d", ErrInvalidJob, len(j.Key), bolt.MaxKeySize)
	case !j.State.IsValid():
		return fmt.Errorf("%w: unknown state %q", ErrInvalidJob, j.State)
	case j.State.HasRequestID() && j.RequestID == "":
		return fmt.Errorf("%w: state %s without a request ID", ErrInvalidJob, j.State)
	}
	return nil
}

// storedID is the part of a stored record that checkRequestID needs; decoding
// only these fields keeps Put cheap.
type storedID struct {
	State     State  `json:"state"`
	RequestID string `json:"request_id"`
}

// checkRequestID refuses a write that would lose the request ID of a live
// render. It is the last line of defence against a stale copy of a job being
// written over a newer one.
func checkRequestID(prev storedID, next *Job) error {
	if prev.RequestID == "" || prev.RequestID == next.RequestID || !prev.State.isLive() {
		return nil
	}
	if next.RequestID == "" {
		return fmt.Errorf("%w: stored job is %s with request ID %q, write has none",
			ErrRequestIDChange, prev.State, prev.RequestID)
	}
	return fmt.Errorf("%w: stored job is %s with request ID %q, write has %q",
		ErrRequestIDChange, prev.State, prev.RequestID, next.RequestID)
}
