package results

import (
	"context"
	"fmt"
	"io"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/store"
)

// IndexStatus is where the jobs of one results index stand: a shard's or
// the batch's, read without its state file.
type IndexStatus struct {
	Index   string              `json:"index"` // where it was read
	Jobs    int                 `json:"jobs"`
	ByState map[store.State]int `json:"by_state"`
	Account account.Ledger      `json:"account"`
}

// StatusOf reads src once for its jobs by state and its account (Tally);
// name says where src is.
func StatusOf(ctx context.Context, name string, src Exporter) (IndexStatus, error) {
	s := IndexStatus{Index: name, ByState: map[store.State]int{}}
	var err error
	if s.Account, err = Tally(ctx, countStates{src, s.ByState}); err != nil {
		return s, err
	}
	for _, n := range s.ByState {
		s.Jobs += n
	}
	return s, nil
}

// WriteText writes the index's account and jobs for people.
func (s IndexStatus) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%s: %s\n", s.Index, s.Account)
	if line := s.Account.Spend.String(); line != "" {
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintf(w, "  jobs in the index: %d: %s\n", s.Jobs, account.StateCounts(s.ByState))
}

// countStates passes an index's entries on, counting them by state.
type countStates struct {
	src Exporter
	by  map[store.State]int
}

func (c countStates) Export(ctx context.Context, fn func(Entry) error) error {
	return c.src.Export(ctx, func(e Entry) error {
		c.by[e.State]++
		return fn(e)
	})
}
