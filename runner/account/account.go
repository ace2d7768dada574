// Package account holds a batch's figures: how far along it is and what
// it cost. It is the one type every surface prints from — the run's
// summary and exit line, `status` (live over the control socket and from
// the state file), `report`, the --notify-url payload and `run --json` —
// so that they cannot disagree, and a new figure is one edit.
//
// A Ledger places every row of the manifest (or of the shard) in exactly
// one of its outcomes, so they add up to Rows; Spend says what was spent,
// as reported by the API and as estimated, and what is left of the budget.
// Figures are one run's counters around that ledger.
//
// The package is a leaf: it imports only store (for the job states), so
// that the runner, the control socket and the command can all use it.
package account

import (
	"time"

	"github.com/pikabatch/pikabatch/store"
)

// Ledger is where each row of the manifest (or shard) stands. Every row is
// in exactly one outcome: Done+Failed+Cancelled+InFlight+Held+NotSubmitted
// is Rows (Balanced). State entries no manifest row claims (orphans) are
// not rows and stay out of it.
type Ledger struct {
	// Rows is the rows of the manifest (its shard's, for a shard), as the
	// last run counted them.
	Rows      int `json:"rows"`
	Done      int `json:"done"`
	Failed    int `json:"failed"` // failed, timed out or expired on the API
	Cancelled int `json:"cancelled"`
	// InFlight were sent and are not finished: on the API, or rendered and
	// not yet downloaded.
	InFlight int `json:"in_flight"`
	// Held are submits whose answer was lost (each may have been charged),
	// not re-sent yet.
	Held int `json:"held"`
	// NotSubmitted were never sent: pending, or not read yet.
	NotSubmitted int   `json:"not_submitted"`
	Spend        Spend `json:"spend"`
}

// Add counts n rows in state st.
func (l *Ledger) Add(st store.State, n int) {
	switch st {
	case store.StateDone:
		l.Done += n
	case store.StateFailed, store.StateTimedOut, store.StateExpired:
		l.Failed += n
	case store.StateCancelled:
		l.Cancelled += n
	case store.StateSubmitted, store.StateQueued, store.StateRunning, store.StateRendered:
		l.InFlight += n
	case store.StateSubmitting, store.StateUncertain:
		l.Held += n
	default:
		l.NotSubmitted += n
	}
}

// Counted is the rows the ledger places.
func (l Ledger) Counted() int {
	return l.Done + l.Failed + l.Cancelled + l.InFlight + l.Held + l.NotSubmitted
}

// Finished is the rows that reached a final state.
func (l Ledger) Finished() int { return l.Done + l.Failed + l.Cancelled }

// Unfinished is the rows a later run still has work for.
func (l Ledger) Unfinished() int { return l.InFlight + l.Held + l.NotSubmitted }

// Of builds the ledger of rows manifest rows from the rows' states. A row
// the states do not know yet (never read, or never planned) is not
// submitted; rows is raised to the states' count when it is smaller (a
// manifest that lost rows since: its state entries are still counted).
func Of(rows int, byState map[store.State]int) Ledger {
	var l Ledger
	for st, n := range byState {
		l.Add(st, n)
	}
	l.Rows = max(rows, l.Counted())
	l.NotSubmitted += l.Rows - l.Counted()
	return l
}

// Spend is what a batch cost: what the API reported, and an estimate at
// the recorded price for the jobs sent without a reported cost.
type Spend struct {
	ReportedUSD  USD `json:"reported_usd"`
	ReportedJobs int `json:"reported_jobs"`
	// EstimatedUSD is the estimate of EstimatedJobs sent without a
	// reported cost, never added to ReportedUSD. UnknownJobs were sent
	// without a reported cost and without a price to estimate them.
	EstimatedUSD  USD `json:"estimated_usd"`
	EstimatedJobs int `json:"estimated_jobs"`
	UnknownJobs   int `json:"unknown_jobs,omitempty"`
	// BudgetUSD is --max-cost (0: none); BudgetLeftUSD what is left of it.
	BudgetUSD     USD `json:"budget_usd"`
	BudgetLeftUSD USD `json:"budget_left_usd"`
}

// Total is the reported spend plus the estimate of the rest.
func (s Spend) Total() USD { return s.ReportedUSD + s.EstimatedUSD }

// Figures are one run's account: every row of the manifest (Final, and
// Account), and what this run did. They are the control socket's wire
// format and `run --json`'s, so their JSON names are kept stable.
type Figures struct {
	Rows            int            `json:"rows"`
	Submitted       int            `json:"submitted"`  // accepted submits this run (incl. re-sent)
	Resent          int            `json:"resent"`     // uncertain submits re-sent: up to this many duplicate charges
	Uncertain       int            `json:"uncertain"`  // submits whose outcome was lost this run
	Held            int            `json:"held"`       // uncertain rows left unsent
	Completed       int            `json:"completed"`  // jobs seen completed this run
	Downloaded      int            `json:"downloaded"` // jobs downloaded this run
	Failed          int            `json:"failed"`     // jobs that failed this run
	Cancelled       int            `json:"cancelled"`  // jobs found cancelled this run
	FailReasons     map[string]int `json:"fail_reasons,omitempty"`
	SkippedDone     int            `json:"skipped_done"`     // already done, file present
	Changed         int            `json:"changed"`          // parameters changed since submit: skipped
	NotSubmitted    int            `json:"not_submitted"`    // left pending (stopped, capped), or never read
	LeftInFlight    int            `json:"left_in_flight"`   // submitted, not finished when the run stopped
	Polls           int            `json:"polls"`            // status/result calls spent polling
	DownloadRetries int            `json:"download_retries"` // cut-off or failed downloads retried
	URLRefreshes    int            `json:"url_refreshes"`    // expired result URLs refreshed
	// AccountJobs is how many jobs at once the account was seen to take
	// when it refused more than the run's concurrency (0: it never refused
	// one, or it held more jobs of this run later, so the refusals were
	// the rate).
	AccountJobs int `json:"account_jobs_at_once,omitempty"`
	// FailedBefore counts the rows that had failed (or timed out, expired,
	// been cancelled) in an earlier run and were skipped: not submitted
	// again without retrying failed rows. FailedBeforeKeys are the first
	// few, in manifest order.
	FailedBefore     int      `json:"failed_before,omitempty"`
	FailedBeforeKeys []string `json:"failed_before_keys,omitempty"`
	// Parked jobs kept failing on their own calls while others' went
	// through: left in flight (counted in LeftInFlight) for the next run.
	Parked int `json:"parked,omitempty"`
	// StatusWords counts the looks answered with a status word outside the
	// API's docs, by word; such a job is taken as still running.
	StatusWords map[string]int `json:"status_words,omitempty"`
	// Final is every row's state at the end (so far, while live); rows
	// not read are pending. It sums to Rows.
	Final map[store.State]int `json:"final"`
	Wall  time.Duration       `json:"wall_ns"`

	// Orphans are the state file's jobs that no row of the manifest claims
	// (an id renamed or recased, a no-id row edited, a row given an id):
	// kept, flagged in the index, never submitted. They are counted once
	// the run has read the whole manifest, and stay out of the rows'
	// counts (Rows, Failed, Final, LeftInFlight…); collecting their
	// renders counts in Completed, Downloaded and the API figures.
	Orphans    int      `json:"orphans"`
	OrphanKeys []string `json:"orphan_keys,omitempty"` // the first few, in key order
	// OrphansInFlight had a render in flight or not yet downloaded: this
	// run collects it. Of those, OrphansCollected were downloaded and
	// OrphansFailed failed (on the API, or their download).
	OrphansInFlight  int `json:"orphans_in_flight,omitempty"`
	OrphansCollected int `json:"orphans_collected,omitempty"`
	OrphansFailed    int `json:"orphans_failed,omitempty"`

	// Copies is what the run copied to its bucket prefix (--sync-to); nil
	// without one.
	Copies *Copies `json:"bucket_copies,omitempty"`

	// Account is the batch's ledger: Final by outcome, and its spend. It
	// is filled by WholeManifest (and Spend by whoever knows the prices).
	Account Ledger `json:"account"`

	// ReportedCostUSD is what the API reported the ReportedCostJobs jobs
	// that finished this run cost, so that the spend of the run needs no
	// pass over the state. Account.Spend carries the batch's.
	ReportedCostUSD  USD `json:"-"`
	ReportedCostJobs int `json:"-"`
}

// Copies are a run's copies of the batch's files in a bucket: those sent,
// those found there already, and those waiting for the next run (the
// bucket could not be reached, or a file did not match the state).
type Copies struct {
	To       string `json:"to"` // the bucket prefix, as given (no credentials)
	Uploaded int    `json:"uploaded"`
	Present  int    `json:"present"`
	Bytes    int64  `json:"bytes"`
	Waiting  int    `json:"waiting"`
}

// WholeManifest makes f account for every row of a manifest (or shard) of
// rows rows: a run that stopped early never read the rest, and those rows
// were not submitted either (pending in Final). It then fills the ledger
// from Final; rows read and not ended yet (a live run's) are in flight.
// Calling it again with the same rows changes nothing.
func (f *Figures) WholeManifest(rows int) {
	if f.Final == nil {
		f.Final = map[store.State]int{}
	}
	if unread := rows - f.Rows; unread > 0 {
		f.NotSubmitted += unread
		f.Final[store.StatePending] += unread
		f.Rows = rows
	}
	l := Ledger{Spend: f.Account.Spend}
	for st, n := range f.Final {
		l.Add(st, n)
	}
	l.InFlight += max(f.Rows-l.Counted(), 0)
	l.Rows = max(f.Rows, l.Counted())
	f.Account = l
}

// SetBudget records a budget of limit (0: none) and what is left of it
// after the spend so far, reported or estimated.
func (s *Spend) SetBudget(limit USD) {
	s.BudgetUSD = limit
	if limit > 0 {
		s.BudgetLeftUSD = max(limit-s.Total(), 0)
	}
}

// Meta keys under which a run records, in the state file, what the
// account of its batch needs when no run is live.
const (
	// RowsMetaKey holds the manifest's (the shard's) rows as the last run
	// counted them, in decimal.
	RowsMetaKey = "manifest_rows"
	// BudgetMetaKey holds the batch's budget (--max-cost), in dollars.
	BudgetMetaKey = "max_cost_usd"
)

// Plus is the ledger of two batches (the shards of one manifest) together.
func (l Ledger) Plus(o Ledger) Ledger {
	s := Spend{ReportedUSD: l.Spend.ReportedUSD + o.Spend.ReportedUSD, ReportedJobs: l.Spend.ReportedJobs + o.Spend.ReportedJobs,
		EstimatedUSD: l.Spend.EstimatedUSD + o.Spend.EstimatedUSD, EstimatedJobs: l.Spend.EstimatedJobs + o.Spend.EstimatedJobs,
		UnknownJobs: l.Spend.UnknownJobs + o.Spend.UnknownJobs}
	// Shards share one budget: the larger recorded one is the batch's.
	s.SetBudget(max(l.Spend.BudgetUSD, o.Spend.BudgetUSD))
	return Ledger{Rows: l.Rows + o.Rows, Done: l.Done + o.Done, Failed: l.Failed + o.Failed,
		Cancelled: l.Cancelled + o.Cancelled, InFlight: l.InFlight + o.InFlight, Held: l.Held + o.Held,
		NotSubmitted: l.NotSubmitted + o.NotSubmitted, Spend: s}
}
