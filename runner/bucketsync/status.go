package bucketsync

import (
	"context"
	"fmt"
	"io"

	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// Status is where a batch's jobs stand by the results indexes its runs
// copied to a bucket: each index's account, and theirs together.
type Status struct {
	Total   results.IndexStatus // every index's, named "all N indexes"
	Indexes []results.IndexStatus
}

// StatusOf reads each index once (results.StatusOf) and adds them up.
func StatusOf(ctx context.Context, ixs []Index) (Status, error) {
	s := Status{Total: results.IndexStatus{Index: fmt.Sprintf("all %d indexes", len(ixs)), ByState: map[store.State]int{}}}
	for _, ix := range ixs {
		is, err := results.StatusOf(ctx, ix.At.String(), ix)
		if err != nil {
			return s, err
		}
		for st, n := range is.ByState {
			s.Total.ByState[st] += n
		}
		s.Total.Jobs += is.Jobs
		s.Total.Account = s.Total.Account.Plus(is.Account)
		s.Indexes = append(s.Indexes, is)
	}
	return s, nil
}

// WriteText writes each index's account, theirs together when there are
// several, and what an index copied at a run's end cannot tell.
func (s Status) WriteText(w io.Writer) {
	for _, is := range s.Indexes {
		is.WriteText(w)
	}
	if len(s.Indexes) > 1 {
		s.Total.WriteText(w)
	}
	fmt.Fprintln(w, "(from the indexes the runs copied at their end: a run still going shows as of its last end, and rows no run has read yet are not counted)")
}
