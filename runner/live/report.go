package live

import (
	"context"
	"errors"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/store"
)

// Report is the status of several state files (a batch's shards) and
// their totals.
type Report struct {
	Jobs    int                 `json:"jobs"`
	ByState map[store.State]int `json:"by_state"`
	// Account is the batches' accounts together: every row of the
	// manifest (all its shards read) and the spend.
	Account account.Ledger `json:"account"`
	Batches []Status       `json:"batches"`
	// Unreachable are state files held by a run this process cannot ask
	// (a shard rendering on another machine); the totals leave them out.
	Unreachable []Unreachable `json:"unreachable,omitempty"`
}

// Unreachable is a state file Collect could not read, held by a run out
// of reach.
type Unreachable struct {
	StateFile string `json:"state_file"`
	Error     string `json:"error"`
}

// OpenError is a state file Collect could not open; Error is its error's.
type OpenError struct {
	Path string
	Err  error
}

func (e *OpenError) Error() string { return e.Err.Error() }

func (e *OpenError) Unwrap() error { return e.Err }

// Collect asks every state file of files for its status (a live run's
// answer where one holds it), and totals them. Of several files, one
// locked by a run this process cannot reach is listed as Unreachable and
// the others are reported; any other failure to open one is an
// *OpenError.
func Collect(ctx context.Context, files []string) (Report, error) {
	rep := Report{ByState: map[store.State]int{}, Batches: []Status{}}
	var srcs []Source
	defer func() { CloseAll(srcs) }()
	for _, f := range files {
		s, err := Open(ctx, f, OpenOptions{})
		switch {
		case errors.Is(err, store.ErrLocked) && len(files) > 1:
			rep.Unreachable = append(rep.Unreachable, Unreachable{StateFile: f, Error: err.Error()})
			continue
		case err != nil:
			return rep, &OpenError{Path: f, Err: err}
		}
		srcs = append(srcs, s)
	}
	for _, s := range srcs {
		st, err := s.Status(ctx)
		if err != nil {
			return rep, err
		}
		rep.Batches = append(rep.Batches, st)
		rep.Jobs += st.Jobs
		rep.Account = rep.Account.Plus(st.Account)
		for k, v := range st.ByState {
			rep.ByState[k] += v
		}
	}
	return rep, nil
}

// OpenAll opens every state file of files (Open), live or not. On error
// it closes what it opened and returns an *OpenError.
func OpenAll(ctx context.Context, files []string, opts OpenOptions) ([]Source, error) {
	var srcs []Source
	for _, f := range files {
		s, err := Open(ctx, f, opts)
		if err != nil {
			CloseAll(srcs)
			return nil, &OpenError{Path: f, Err: err}
		}
		srcs = append(srcs, s)
	}
	return srcs, nil
}

// CloseAll closes every source of srcs.
func CloseAll(srcs []Source) {
	for _, s := range srcs {
		_ = s.Close()
	}
}

// CancelAll cancels keys (every job, when none) in every source. A named
// key is NotFound only when no source has it: a batch's shards each know
// their own rows. It stops at the first source that fails, with what was
// done so far.
func CancelAll(ctx context.Context, srcs []Source, keys []string) (CancelReport, error) {
	all := CancelReport{Counts: map[string]int{}}
	found := map[string]bool{}
	var missing []string
	for _, s := range srcs {
		rep, err := s.Cancel(ctx, keys)
		for _, r := range rep.Results {
			if r.Outcome == NotFound {
				missing = append(missing, r.Key)
				continue
			}
			found[r.Key] = true
			all.Results = append(all.Results, r)
			all.Counts[r.Outcome]++
		}
		if err != nil {
			return all, err
		}
	}
	for _, k := range missing {
		if !found[k] {
			found[k] = true
			all.Results = append(all.Results, CancelResult{Key: k, Outcome: NotFound})
			all.Counts[NotFound]++
		}
	}
	return all, nil
}
