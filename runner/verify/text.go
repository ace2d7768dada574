package verify

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/pikabatch/pikabatch/runner/account"
)

// WriteText writes the report for people: a line per finding, with the
// file's path under out, then the counts.
func (r Report) WriteText(w io.Writer, out string) {
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%-24s %-14s %s: %s\n", f.Key, f.Problem, filepath.Join(out, f.Path), f.Detail)
	}
	fmt.Fprintf(w, "verified %s of %s (%s): %d ok%s\n",
		account.Plural(r.Files, "file"), account.Plural(r.Jobs, "done job"), account.Bytes(r.Bytes), r.OK, ProblemCounts(r.Findings))
}

// WriteCopies writes each check of bucket copies for people.
func WriteCopies(w io.Writer, checks []StateCopies) {
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
		fmt.Fprintf(w, "checked %s in %s: %d ok%s", copies, r.To, r.OK, ProblemCounts(r.Findings))
		if r.Waiting > 0 {
			fmt.Fprintf(w, "; %s for the next run to upload", account.WaitingFiles(r.Waiting))
		}
		fmt.Fprintln(w)
	}
}

// ProblemCounts is ", 2 missing, 1 wrong size" for the findings.
func ProblemCounts(fs []Finding) string {
	order := []Problem{Missing, WrongSize, WrongHash, Unreadable, Unsafe}
	n := map[Problem]int{}
	for _, f := range fs {
		n[f.Problem]++
	}
	var b strings.Builder
	for _, p := range order {
		if n[p] > 0 {
			fmt.Fprintf(&b, ", %d %s", n[p], p)
		}
	}
	return b.String()
}
