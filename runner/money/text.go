package money

import (
	"fmt"
	"io"
	"strconv"
)

// BudgetLine says what the recorded budget leaves for the submits rows a
// plan would send (hi, the upper estimate), and whether the run would stop
// at it; "" without a budget.
func (r *Recorded) BudgetLine(hi Total, submits int) string {
	if r.LimitUSD <= 0 {
		return ""
	}
	line := fmt.Sprintf("budget: %s of %s spent (recorded in the state file)", USD(r.SpentUSD), USD(r.LimitUSD))
	unsent, need, short := r.Unsent(hi, submits)
	switch {
	case submits == 0 || hi.Rows == 0:
	case short:
		line += fmt.Sprintf("; the run would stop at it with about %d rows unsent (raise --max-cost to %s to submit them all)",
			unsent, strconv.FormatFloat(need, 'f', -1, 64))
	default:
		line += fmt.Sprintf("; %s left covers the rows to submit", USD(r.LeftUSD()))
	}
	return line
}

// RunLine says this run's part of the spend, which the batch's account
// (the whole batch's) does not: what the API reported for the jobs this
// run finished, and what budget, if any, counted this run. It is "" when
// the run sent nothing at a cost and there is no budget.
func (r SpendReport) RunLine(budget *Budget) string {
	if r.ReportedJobs == 0 && r.EstimatedJobs == 0 && r.UnknownJobs == 0 && budget == nil {
		return ""
	}
	line := fmt.Sprintf("this run's spend: %s as the API reported it", USD(r.RunReportedUSD))
	if budget != nil {
		// The budget's count can exceed the spend: a job counts at the
		// highest price any run priced it at, or its reported cost.
		f := budget.Figures()
		line += fmt.Sprintf("; the budget counted %s this run, %s in all of %s; %s left",
			USD(f.RunUSD), USD(f.SpentUSD), USD(f.LimitUSD), USD(f.LeftUSD))
	}
	return line
}

// Estimate is a cost estimate as the JSON summaries carry it.
type Estimate struct {
	USD        float64 `json:"usd"`
	MaxUSD     float64 `json:"max_usd,omitempty"` // above USD when the rows' prices differ and which are submitted is not known
	Rows       int     `json:"rows"`
	Unknown    int     `json:"unknown_rows,omitempty"`
	Basis      string  `json:"basis"`
	IsEstimate bool    `json:"is_estimate"`
}

// EstimateOf is the estimate of rows costing lo to hi at p.
func EstimateOf(lo, hi Total, p Pricer) *Estimate {
	e := &Estimate{USD: lo.USD, Rows: lo.Rows, Unknown: lo.Unknown, Basis: p.Describe(), IsEstimate: true}
	if hi.USD > lo.USD {
		e.MaxUSD = hi.USD
	}
	return e
}

// WriteCost writes the cost preview's line, and note when there is one
// and it matters: the cost is unknown, or always says where the price is
// from.
func WriteCost(w io.Writer, t Total, p Pricer, note string, always bool) {
	fmt.Fprintln(w, CostLine(t, p))
	if note != "" && (always || t.Unknown > 0 || t.Rows == 0) {
		fmt.Fprintf(w, "  (%s)\n", note)
	}
}

// WriteRange writes the cost of submits rows estimated lo to hi: a range
// when the rows' prices differ and the plan does not say which are sent,
// else WriteCost's line.
func WriteRange(w io.Writer, lo, hi Total, submits int, p Pricer, note string, always bool) {
	if hi.USD > lo.USD {
		fmt.Fprintf(w, "estimated cost: %s to %s for %d rows to submit (%s; which rows, the plan does not say)\n",
			USD(lo.USD), USD(hi.USD), submits, p.Describe())
		return
	}
	WriteCost(w, lo, p, note, always)
}
