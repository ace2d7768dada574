package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
	"github.com/pikabatch/pikabatch/runner/verify"
	"github.com/pikabatch/pikabatch/store"
)

// copiesCheck is the check of one state file's bucket copies: its report,
// or why it was not made.
type copiesCheck struct {
	stateFile string
	report    *verify.CopiesReport
	skipped   string
}

// verifyCopies checks the bucket copies every state file records (none
// for a batch never run with --sync-to).
func verifyCopies(ctx context.Context, files []string, opts verify.Options) ([]copiesCheck, error) {
	client := bucket.NewClient()
	defer client.Close()
	var out []copiesCheck
	for _, f := range files {
		c, err := verifyCopiesOf(ctx, f, client, opts)
		if err != nil {
			return out, err
		}
		if c.report != nil || c.skipped != "" {
			out = append(out, c)
		}
	}
	return out, nil
}

// verifyCopiesOf checks the copies of the state file at path. Forgetting a
// bad copy is a write: a state file a run holds is not checked, and one
// that records no copies is only read.
func verifyCopiesOf(ctx context.Context, path string, client *bucket.Client, opts verify.Options) (copiesCheck, error) {
	c := copiesCheck{stateFile: path}
	open := func(readOnly bool) (*store.Store, error) {
		st, err := store.Open(path, store.Options{ReadOnly: readOnly, LockTimeout: -1, Owner: store.CurrentOwner("pikabatch verify")})
		if errors.Is(err, store.ErrLocked) {
			c.skipped = "a run holds the state file; its bucket copies, if any, are checked once it ends"
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
	rep, err := verify.CheckCopies(ctx, st, client, opts)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	c.report = &rep
	return c, nil
}

// ignoreLocked is err, but nil for a state file a run holds.
func ignoreLocked(err error) error {
	if errors.Is(err, store.ErrLocked) {
		return nil
	}
	return err
}

// printCopies prints each check of bucket copies.
func printCopies(w io.Writer, checks []copiesCheck) {
	for _, c := range checks {
		if c.report == nil {
			fmt.Fprintf(w, "%s: bucket copies not checked: %s\n", c.stateFile, c.skipped)
			continue
		}
		r := c.report
		for _, f := range r.Findings {
			fmt.Fprintf(w, "%-24s %-14s %s: %s\n", f.Path, f.Problem, f.Key, f.Detail)
		}
		copies := fmt.Sprintf("%d bucket copies", r.Copies)
		if r.Copies == 1 {
			copies = "1 bucket copy"
		}
		fmt.Fprintf(w, "checked %s in %s: %d ok%s", copies, r.To, r.OK, problemCounts(r.Findings))
		if r.Waiting > 0 {
			fmt.Fprintf(w, "; %s for the next run to upload", waitingFiles(r.Waiting))
		}
		fmt.Fprintln(w)
	}
}

// copiesChecked is the copies the checks looked at.
func copiesChecked(checks []copiesCheck) int {
	n := 0
	for _, c := range checks {
		if c.report != nil {
			n += c.report.Copies
		}
	}
	return n
}

// waitingFiles is "1 file waits" or "N files wait".
func waitingFiles(n int) string {
	if n == 1 {
		return "1 file waits"
	}
	return plural(n, "file") + " wait"
}
