package batch

import (
	"fmt"
	"io"
	"time"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/results"
)

// WriteText writes what Recover did for people: where each job stands
// now, and what the index cannot know.
func (r RecoverResult) WriteText(w io.Writer) {
	rep := r.RecoverReport
	if r.KeptAs != "" {
		fmt.Fprintf(w, "damaged state file kept as %s\n", r.KeptAs)
	}
	fmt.Fprintf(w, "rebuilt %s from %s (written %s): %s\n", r.StatePath, r.IndexPath,
		rep.IndexTime.Format(time.RFC3339), account.Plural(rep.Jobs, "job"))
	fmt.Fprintf(w, "  %d done (files present), %d in flight (polled by request ID), %d done with a file missing (fetched again by request ID, no new render)\n",
		rep.Done, rep.InFlight, rep.Refetch)
	fmt.Fprintf(w, "  %d uncertain, %d pending, %d failed, cancelled, timed out or expired\n", rep.Uncertain, rep.Pending, rep.Finished)
	if len(rep.SkippedLines) > 0 {
		fmt.Fprintf(w, "  skipped lines %v of %s: longer than %d bytes, no entry pikabatch writes; their rows, if any, are submitted again\n",
			rep.SkippedLines, r.IndexPath, results.MaxLineBytes)
	}
	if rep.Journaled > 0 {
		fmt.Fprintf(w, "  %d request IDs from the recovery journal\n", rep.Journaled)
	}
	fmt.Fprintln(w, "jobs submitted after the index was written are not in it: check the run's log for their request IDs before running again")
}
