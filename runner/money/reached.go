package money

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/pikabatch/pikabatch/runner/account"
)

// ReachedError is a run that stopped submitting at its budget: the normal
// end of a budgeted run, told in one line (what was spent, the rows
// waiting, how to go on). It wraps the run's error, as the run is not
// finished.
type ReachedError struct {
	Err                error // the run's
	SpentUSD, LimitUSD float64
	Waiting            int     // rows not sent
	NeedUSD            float64 // --max-cost that would pay for the rows waiting
}

func (e *ReachedError) Error() string {
	line := fmt.Sprintf("budget reached: %s of %s spent; %d rows wait", USD(e.SpentUSD), USD(e.LimitUSD), e.Waiting)
	if e.NeedUSD > e.LimitUSD {
		line += fmt.Sprintf("; to go on, run again with --max-cost %s (their estimate added)",
			strconv.FormatFloat(RoundUSD(e.NeedUSD), 'f', -1, 64))
	} else {
		line += "; to go on, run again with a higher --max-cost"
	}
	return line
}

// Unwrap returns the run's error.
func (e *ReachedError) Unwrap() error { return e.Err }

// Stop is runErr told as a *ReachedError when the budget stopped the
// run's submits, else runErr. sum is the run's account.
func (b *Batch) Stop(runErr error, sum account.Figures) error {
	var over *OverError
	if b.Budget == nil || !errors.As(runErr, &over) {
		return runErr
	}
	f := b.Budget.Figures()
	waiting := sum.NotSubmitted + sum.Held
	return &ReachedError{Err: runErr, SpentUSD: f.SpentUSD, LimitUSD: f.LimitUSD, Waiting: waiting,
		NeedUSD: f.SpentUSD + over.NeedUSD*float64(waiting)}
}
