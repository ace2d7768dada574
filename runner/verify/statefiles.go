package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
	"github.com/pikabatch/pikabatch/store"
)

// StateCopies is the check of one state file's bucket copies: its report,
// or why it was not made.
type StateCopies struct {
	StateFile string
	Report    *CopiesReport // nil when skipped
	Skipped   string
}

// CheckStateCopies checks the bucket copies every state file records
// (none for a batch never run with --sync-to).
func CheckStateCopies(ctx context.Context, files []string, opts Options) ([]StateCopies, error) {
	client := bucket.NewClient()
	defer client.Close()
	var out []StateCopies
	for _, f := range files {
		c, err := checkStateCopies(ctx, f, client, opts)
		if err != nil {
			return out, err
		}
		if c.Report != nil || c.Skipped != "" {
			out = append(out, c)
		}
	}
	return out, nil
}

// checkStateCopies checks the copies of the state file at path. Forgetting
// a bad copy is a write: a state file a run holds is not checked, and one
// that records no copies is only read.
func checkStateCopies(ctx context.Context, path string, client *bucket.Client, opts Options) (StateCopies, error) {
	c := StateCopies{StateFile: path}
	open := func(readOnly bool) (*store.Store, error) {
		st, err := store.Open(path, store.Options{ReadOnly: readOnly, LockTimeout: -1, Owner: store.CurrentOwner("pikabatch verify")})
		if errors.Is(err, store.ErrLocked) {
			c.Skipped = "a run holds the state file; its bucket copies, if any, are checked once it ends"
		}
		return st, err
	}
	st, err := open(true)
	if err != nil {
		return c, ignoreLocked(err)
	}
	to, err := st.Meta(ctx, bucketsync.MetaKey)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil || to == "" {
		return c, err
	}
	if st, err = open(false); err != nil {
		return c, ignoreLocked(err)
	}
	defer st.Close()
	rep, err := CheckCopies(ctx, st, client, opts)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	c.Report = &rep
	return c, nil
}

// ignoreLocked is err, but nil for a state file a run holds.
func ignoreLocked(err error) error {
	if errors.Is(err, store.ErrLocked) {
		return nil
	}
	return err
}

// CopiesChecked is the copies the checks looked at.
func CopiesChecked(checks []StateCopies) int {
	n := 0
	for _, c := range checks {
		if c.Report != nil {
			n += c.Report.Copies
		}
	}
	return n
}
