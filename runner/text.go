package runner

import (
	"fmt"
	"io"
	"time"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/reasons"
)

// WriteSummary writes the end-of-run account for people: the batch's
// ledger and spend, then what this run did, what it could not, and the
// calls it made.
func WriteSummary(w io.Writer, s Summary, calls api.Calls) {
	s.WholeManifest(s.Rows) // a summary made by hand has no ledger yet
	fmt.Fprintf(w, "\n%s\n", s.Account)
	if line := s.Account.Spend.String(); line != "" {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "this run: submitted %d, completed %d, downloaded %d (%d already done), failed %d, cancelled %d, uncertain %d\n",
		s.Submitted, s.Completed, s.Downloaded, s.SkippedDone, s.Failed, s.Cancelled, s.Uncertain)
	writeTrouble(w, s)
	// The account's limit on jobs at once refuses submits only: with polls
	// refused too, the refusals were (at least partly) a rate limit's, and
	// the advice would be a guess.
	if s.AccountJobs > 0 && calls.PollsRateLimited == 0 {
		fmt.Fprintf(w, "%s; later ones waited for a job to finish (if the account takes %d at once, --concurrency %d spares the refusals)\n",
			account.LimitLine(s.AccountJobs), s.AccountJobs, s.AccountJobs)
	}
	// The most frequent reasons first, the folded rest last (reasons.Top).
	for _, r := range reasons.Rank(s.FailReasons) {
		fmt.Fprintf(w, "  failed %4d  %s\n", s.FailReasons[r], r)
	}
	fmt.Fprintf(w, "API calls: submit %d, status %d, result %d, cancel %d (retries %d, rate limited %d); polls per job %.2f\n",
		calls.Submit, calls.Status, calls.Result, calls.Cancel, calls.Retries, calls.RateLimited,
		perJob(s.Polls, s.Completed+s.Failed))
	fmt.Fprintf(w, "downloads retried %d, URLs refreshed %d; wall time %s\n",
		s.DownloadRetries, s.URLRefreshes, s.Wall.Round(time.Millisecond))
	if s.Copies != nil {
		fmt.Fprintln(w, s.Copies)
	}
}

// writeTrouble writes the summary's lines about rows the run left
// undone, sent twice or could not match, each only when it happened.
func writeTrouble(w io.Writer, s Summary) {
	if s.FailedBefore > 0 {
		fmt.Fprintf(w, "failed in earlier runs %d (%s): not submitted again; --retry-failed submits them again (each a new charge)\n",
			s.FailedBefore, account.Examples(s.FailedBeforeKeys, s.FailedBefore))
	}
	if s.Uncertain > 0 || s.Resent > 0 {
		// Resent counts re-sends of this run's lost submits and of
		// earlier runs' alike: each is one possible duplicate charge.
		fmt.Fprintf(w, "submits whose answer was lost: %d this run; re-sent %d (up to %d duplicate charges)\n",
			s.Uncertain, s.Resent, s.Resent)
	}
	if s.Held > 0 {
		fmt.Fprintf(w, "held %d: rows whose submit's answer was lost (this run or before) and were not re-sent (--hold-uncertain, --max-resends, or the run stopped)\n",
			s.Held)
	}
	if s.Parked > 0 {
		fmt.Fprintf(w, "left in flight for the next run %d: their status kept failing while other calls went through\n", s.Parked)
	}
	if len(s.StatusWords) > 0 {
		fmt.Fprintf(w, "status words outside the API's docs (jobs taken as still running): %s\n", account.WordCounts(s.StatusWords))
	}
	if s.Changed > 0 {
		fmt.Fprintf(w, "changed since submitted (skipped) %d\n", s.Changed)
	}
	if s.Orphans > 0 {
		fmt.Fprintf(w, "%s\n", account.OrphanLine(s.Orphans, s.OrphanKeys, s.OrphansInFlight, "collected this run"))
		if s.OrphansInFlight > 0 {
			fmt.Fprintf(w, "orphan renders collected %d of %d (failed %d)\n", s.OrphansCollected, s.OrphansInFlight, s.OrphansFailed)
		}
	}
}

func perJob(n, jobs int) float64 {
	if jobs == 0 {
		return 0
	}
	return float64(n) / float64(jobs)
}

// WriteText writes a dry run's plan for people, against the state file
// at statePath.
func (p Plan) WriteText(w io.Writer, statePath string) {
	fmt.Fprintf(w, "dry run: nothing sent. %s against %s:\n", account.Plural(p.Rows, "row"), statePath)
	line := func(n int, what string) {
		if n > 0 {
			fmt.Fprintf(w, "  %6d  %s\n", n, what)
		}
	}
	line(p.New, "new: would be submitted")
	line(p.Retry, "failed before: would be submitted again (--retry-failed)")
	line(p.Resend, "uncertain: would be re-sent once (each a possible duplicate charge)")
	line(p.Held, "uncertain: held, not re-sent")
	line(p.InFlight, "resumable: in flight on the API, would be polled")
	line(p.Download, "resumable: rendered, would be downloaded (no new render)")
	line(p.Done, "done: skipped")
	line(p.Failed, "failed, timed out, expired or cancelled: skipped (--retry-failed submits them again)")
	line(p.Changed, "changed since submitted: skipped and reported")
	line(p.ChangedInFlight, "of them in flight: the render of the old parameters would be collected")
	line(p.Orphans, "orphans: jobs of the state file no row claims; never submitted")
	line(p.OrphansInFlight, "of them in flight or not downloaded: would be collected")
	fmt.Fprintf(w, "at most %d paid submits\n", p.Submits)
}
