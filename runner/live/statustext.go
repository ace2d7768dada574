package live

import (
	"fmt"
	"io"
	"time"

	"github.com/pikabatch/pikabatch/runner/account"
)

// WriteText writes the report for people, as `pikabatch status` prints
// it: each batch, the state files it could not reach, and the totals when
// there are several.
func (r Report) WriteText(w io.Writer) {
	for i, st := range r.Batches {
		if i > 0 {
			fmt.Fprintln(w)
		}
		st.WriteText(w)
	}
	for _, u := range r.Unreachable {
		fmt.Fprintf(w, "\n%s: held by a run this machine cannot reach: %s\n", u.StateFile, u.Error)
	}
	if len(r.Batches)+len(r.Unreachable) > 1 {
		fmt.Fprintf(w, "\nall %d readable state files: %s\n", len(r.Batches), r.Account)
		if line := r.Account.Spend.String(); line != "" {
			fmt.Fprintf(w, "  %s\n", line)
		}
		fmt.Fprintf(w, "  jobs in the state files: %d: %s\n", r.Jobs, account.StateCounts(r.ByState))
	}
}

// WriteText writes where one batch stands for people: the live run, if
// any, the account, the jobs by state, and what needs attention.
func (st Status) WriteText(w io.Writer) {
	if st.Live != nil {
		st.Live.writeText(w, st.StateFile)
	} else {
		fmt.Fprintf(w, "%s: no run is live\n", st.StateFile)
	}
	fmt.Fprintf(w, "  %s\n", st.Account)
	if line := st.Account.Spend.String(); line != "" {
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintf(w, "  jobs in the state file: %d: %s\n", st.Jobs, account.StateCounts(st.ByState))
	if len(st.Failures) > 0 {
		fmt.Fprintln(w, "  failures by message:")
		for _, g := range st.Failures {
			fmt.Fprintf(w, "    %5d  %s (%s)\n", g.Count, g.Message, account.Examples(g.Keys, g.Count))
		}
		fmt.Fprintln(w, "  (run with --retry-failed to submit failed, timed-out, expired and cancelled rows again)")
	}
	if st.EstimatedCostJobs > 0 {
		fmt.Fprintf(w, "  estimates at the price the state file recorded (%s)\n", st.EstimateBasis)
	}
	if st.Uncertain > 0 {
		fmt.Fprintf(w, "  uncertain submits: %d (%s): each may have been charged; the next run re-sends each once, or holds them with --hold-uncertain\n",
			st.Uncertain, account.Examples(st.UncertainKeys, st.Uncertain))
	}
	if st.Orphans > 0 {
		collect := "the next run collects them"
		if st.Live != nil {
			collect = "the live run collects them"
		}
		fmt.Fprintf(w, "  %s\n", account.OrphanLine(st.Orphans, st.OrphanKeys, st.OrphansInFlight, collect))
	}
	if a := st.OldestActive; a != nil {
		fmt.Fprintf(w, "  oldest job still on the API: %s (%s, request %s), submitted %s ago\n",
			a.Key, a.State, a.RequestID, a.Age.Round(time.Second))
	}
}

// writeText writes the live run's lines of a status: who runs it, its
// pace, and what this run has done.
func (l *RunInfo) writeText(w io.Writer, stateFile string) {
	fmt.Fprintf(w, "%s: live run, pid %d on %s since %s (up %s)\n", stateFile, l.PID, l.Host,
		l.StartedAt.UTC().Format(time.RFC3339), l.ThisRun.Wall.Round(time.Second))
	pace := "not measured yet"
	if l.PerMinute > 0 {
		pace = fmt.Sprintf("%.1f jobs/min", l.PerMinute)
		if l.ETA > 0 {
			pace += ", ETA " + l.ETA.String()
		}
	}
	fmt.Fprintf(w, "  pace: %s\n", pace)
	r, c := l.ThisRun, l.Calls
	fmt.Fprintf(w, "  this run: submitted %d, completed %d, downloaded %d, failed %d, cancelled %d, re-sent %d; API calls: submit %d, status %d, result %d, cancel %d (retries %d, rate limited %d)\n",
		r.Submitted, r.Completed, r.Downloaded, r.Failed, r.Cancelled, r.Resent, c.Submit, c.Status, c.Result, c.Cancel, c.Retries, c.RateLimited)
	if r.AccountJobs > 0 {
		fmt.Fprintf(w, "  %s; further submits wait for a job to finish\n", account.LimitLine(r.AccountJobs))
	}
	if len(r.StatusWords) > 0 {
		fmt.Fprintf(w, "  status words outside the API's docs (jobs taken as still running): %s\n", account.WordCounts(r.StatusWords))
	}
}
