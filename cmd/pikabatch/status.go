package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

// statusOptions are status's flags.
type statusOptions struct {
	batches batchFlags
	from    string // a bucket prefix the batch's indexes were copied to
	asJSON  bool
}

func newStatusCmd(stdout io.Writer) *cobra.Command {
	var o statusOptions
	c := &cobra.Command{
		Use:   "status --out DIR | --from BUCKET_URL [--json]",
		Short: "Show where a batch stands (also while a run is live)",
		Long: `Show where one batch (or every shard of it) stands, from the live run
when one holds the state file. With --from, from the results indexes the
runs copied to a bucket prefix (--sync-to): every shard's, on whatever
machine it ran, merged, with no state file.`,
		Example: `  pikabatch status --out out
  pikabatch status --out out --json
  pikabatch status --state a/.pikabatch-0-of-2.db --state b/.pikabatch-1-of-2.db
  pikabatch status --from s3://renders/batch1`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runStatus(c.Context(), o, stdout)
		},
	}
	o.batches.register(c.Flags())
	c.Flags().BoolVar(&o.asJSON, "json", false, "print the status as JSON")
	c.Flags().StringVar(&o.from, "from", "", fromUsage)
	markBatchOrFromRequired(c)
	return c
}

// runStatus reports every batch o names.
func runStatus(ctx context.Context, o statusOptions, stdout io.Writer) error {
	if o.from != "" {
		return runStatusFrom(ctx, o, stdout)
	}
	files, err := o.batches.stateFiles()
	if err != nil {
		return err
	}
	rep, err := live.Collect(ctx, files)
	var oe *live.OpenError
	if errors.As(err, &oe) {
		return damagedHint(err)
	}
	if err != nil {
		return err
	}
	var partial error
	if n := len(rep.Unreachable); n > 0 {
		partial = fmt.Errorf("%d of %d state files held by runs this machine cannot reach; the totals leave them out: %w", n, len(files), store.ErrLocked)
	}
	if o.asJSON {
		if err := writeJSON(stdout, statusJSON{Version: jsonVersion, Report: rep}); err != nil {
			return err
		}
		return partial
	}
	for i, st := range rep.Batches {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printStatus(stdout, st)
	}
	for _, u := range rep.Unreachable {
		fmt.Fprintf(stdout, "\n%s: held by a run this machine cannot reach: %s\n", u.StateFile, u.Error)
	}
	if len(rep.Batches)+len(rep.Unreachable) > 1 {
		fmt.Fprintf(stdout, "\nall %d readable state files: %s\n", len(rep.Batches), rep.Account)
		if line := rep.Account.Spend.String(); line != "" {
			fmt.Fprintf(stdout, "  %s\n", line)
		}
		fmt.Fprintf(stdout, "  jobs in the state files: %d: %s\n", rep.Jobs, stateCounts(rep.ByState))
	}
	return partial
}

func printStatus(w io.Writer, st live.Status) {
	if l := st.Live; l != nil {
		fmt.Fprintf(w, "%s: live run, pid %d on %s since %s (up %s)\n", st.StateFile, l.PID, l.Host,
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
			fmt.Fprintf(w, "  %s; further submits wait for a job to finish\n", accountLimit(r.AccountJobs))
		}
		if len(r.StatusWords) > 0 {
			fmt.Fprintf(w, "  status words outside the API's docs (jobs taken as still running): %s\n", wordCounts(r.StatusWords))
		}
	} else {
		fmt.Fprintf(w, "%s: no run is live\n", st.StateFile)
	}
	fmt.Fprintf(w, "  %s\n", st.Account)
	if line := st.Account.Spend.String(); line != "" {
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintf(w, "  jobs in the state file: %d: %s\n", st.Jobs, stateCounts(st.ByState))
	if len(st.Failures) > 0 {
		fmt.Fprintln(w, "  failures by message:")
		for _, g := range st.Failures {
			fmt.Fprintf(w, "    %5d  %s (%s)\n", g.Count, g.Message, examples(g.Keys, g.Count))
		}
		fmt.Fprintln(w, "  (run with --retry-failed to submit failed, timed-out, expired and cancelled rows again)")
	}
	if st.EstimatedCostJobs > 0 {
		fmt.Fprintf(w, "  estimates at the price the state file recorded (%s)\n", st.EstimateBasis)
	}
	if st.Uncertain > 0 {
		fmt.Fprintf(w, "  uncertain submits: %d (%s): each may have been charged; the next run re-sends each once, or holds them with --hold-uncertain\n",
			st.Uncertain, examples(st.UncertainKeys, st.Uncertain))
	}
	if st.Orphans > 0 {
		collect := "the next run collects them"
		if st.Live != nil {
			collect = "the live run collects them"
		}
		fmt.Fprintf(w, "  %s\n", orphanLine(st.Orphans, st.OrphanKeys, st.OrphansInFlight, collect))
	}
	if a := st.OldestActive; a != nil {
		fmt.Fprintf(w, "  oldest job still on the API: %s (%s, request %s), submitted %s ago\n",
			a.Key, a.State, a.RequestID, a.Age.Round(time.Second))
	}
}

// stateCounts lists the states that have jobs, in life order.
func stateCounts(by map[store.State]int) string {
	var parts []string
	for _, s := range store.AllStates() {
		if n := by[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func examples(keys []string, total int) string {
	s := strings.Join(keys, ", ")
	if total > len(keys) {
		s += ", …"
	}
	return s
}
