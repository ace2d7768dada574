package main

import (
	"fmt"
	"io"

	"github.com/pikabatch/pikabatch/runner/verify"
)

// printCopies prints each check of bucket copies.
func printCopies(w io.Writer, checks []verify.StateCopies) {
	for _, c := range checks {
		if c.Report == nil {
			fmt.Fprintf(w, "%s: bucket copies not checked: %s\n", c.StateFile, c.Skipped)
			continue
		}
		r := c.Report
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

// waitingFiles is "1 file waits" or "N files wait".
func waitingFiles(n int) string {
	if n == 1 {
		return "1 file waits"
	}
	return plural(n, "file") + " wait"
}
