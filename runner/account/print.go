package account

import (
	"fmt"
	"strings"
)

// String is the ledger as every surface prints it: the rows and where
// each stands, in one vocabulary.
func (l Ledger) String() string {
	return fmt.Sprintf("rows %d: %d done, %d failed, %d cancelled, %d in flight, %d held, %d not submitted",
		l.Rows, l.Done, l.Failed, l.Cancelled, l.InFlight, l.Held, l.NotSubmitted)
}

// String is the spend as every surface prints it; "" when nothing was
// sent at a cost and there is no budget.
func (s Spend) String() string {
	if s.ReportedJobs == 0 && s.EstimatedJobs == 0 && s.UnknownJobs == 0 && s.BudgetUSD == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "spent %s: %s reported by the API for %d jobs, %s estimated for %d jobs",
		s.Total(), s.ReportedUSD, s.ReportedJobs, s.EstimatedUSD, s.EstimatedJobs)
	if s.UnknownJobs > 0 {
		fmt.Fprintf(&b, ", unknown for %d jobs", s.UnknownJobs)
	}
	if s.BudgetUSD > 0 {
		fmt.Fprintf(&b, "; budget %s, %s left", s.BudgetUSD, s.BudgetLeftUSD)
	}
	return b.String()
}
