package money

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/store"
)

// JobScanner reads every job of a state file. *store.Store implements it.
type JobScanner interface {
	ForEach(ctx context.Context, fn func(store.Job) error) error
}

// BriefScanner reads a state file's jobs by their briefs, decoding a job
// only when brief asks for it. *store.Store implements it.
type BriefScanner interface {
	ForEachBrief(ctx context.Context, brief func(key []byte, b store.Brief) bool, fn func(store.Job) error) error
}

var (
	_ JobScanner   = (*store.Store)(nil)
	_ BriefScanner = (*store.Store)(nil)
)

// SpentInState is the spend the budget counts for the jobs a state file
// records: each job's price (the highest of the pricers that can price it,
// or what the API reported it charged when that is more) times its submits
// that may have been charged. unknown counts the jobs no pricer prices.
func SpentInState(ctx context.Context, st JobScanner, pricers ...Pricer) (usd float64, unknown int, err error) {
	return spentInState(ctx, st, nil, pricers...)
}

// spentInState is SpentInState, putting the jobs still on the API in open
// (when not nil), to be counted again once their charge is reported. Each
// job is rounded to micro-dollars, as the budget reserved it, and summed
// exactly: a float sum of raw prices drifts below what the runs reserved.
func spentInState(ctx context.Context, st JobScanner, open *openCharges, pricers ...Pricer) (usd float64, unknown int, err error) {
	var sum int64
	err = st.ForEach(ctx, func(j store.Job) error {
		n := chargedSubmits(j)
		if n <= 0 {
			return nil
		}
		each, priced := int64(0), false
		for _, p := range pricers {
			if v, err := p.Job(inputField(j.Input)); err == nil {
				each, priced = max(each, int64(math.Round(v*1e6))), true
			}
		}
		if !priced {
			unknown++
			return nil
		}
		if cost, ok := Reported(j.CostUSD); ok {
			// What the API charged, when above the estimate.
			each = max(each, int64(math.Round(cost*1e6)))
		} else if open != nil && j.RequestID != "" && !j.State.IsTerminal() {
			open.add(j.RequestID, float64(each)/1e6)
		}
		sum += each * int64(n)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count the spend recorded in the state: %w", err)
	}
	return float64(sum) / 1e6, unknown, nil
}

// chargedSubmits is how many of a job's submits may have been charged:
// its Attempts (re-sends of uncertain submits included), less the last
// one when the API rejected it. A failed job without a request ID ended
// on a rejected submit (400/422: no job made, nothing charged), which the
// run gave back to the budget but the state still counts as an attempt.
func chargedSubmits(j store.Job) int {
	if j.State == store.StateFailed && j.RequestID == "" && j.Attempts > 0 {
		return j.Attempts - 1
	}
	return j.Attempts
}

// RoundUSD rounds dollars to micro-dollars for logs and JSON: sums of
// floats carry binary noise (0.26399999999999996).
func RoundUSD(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// inputField looks a field up in a submit body.
func inputField(input any) func(string) (any, bool) {
	var raw []byte
	switch v := input.(type) {
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		raw, _ = json.Marshal(v)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&m) // no fields: priced as the schema's defaults
	return func(name string) (any, bool) {
		v, ok := m[name]
		return v, ok && v != nil
	}
}

// SpendReport is the real spend of a batch: what the API reported per
// job, and an estimate for the jobs sent without a reported cost.
type SpendReport struct {
	ReportedUSD     float64 `json:"reported_usd"`
	ReportedJobs    int     `json:"reported_jobs"`
	RunReportedUSD  float64 `json:"run_reported_usd"` // of jobs finished this run
	RunReportedJobs int     `json:"run_reported_jobs"`
	EstimatedUSD    float64 `json:"estimated_usd,omitempty"` // jobs sent without a reported cost, at the estimate
	EstimatedJobs   int     `json:"estimated_jobs,omitempty"`
	UnknownJobs     int     `json:"unknown_jobs,omitempty"` // neither reported nor priced
}

// SpendOf reads the real spend from the state: each job's reported cost,
// else its estimate times its charged submits, marked as such. The spend
// of this run is the runner's count, run: a pass that told it from the
// jobs' finish times would decode every record (6 s at a million jobs);
// this one decodes only the jobs sent without a reported cost.
func (b *Batch) SpendOf(ctx context.Context, st BriefScanner, run account.Figures) (SpendReport, error) {
	r := SpendReport{RunReportedUSD: run.ReportedCostUSD.Float(), RunReportedJobs: run.ReportedCostJobs}
	err := st.ForEachBrief(ctx, func(_ []byte, br store.Brief) bool {
		if cost, ok := Reported(br.CostUSD); ok {
			r.ReportedUSD += cost
			r.ReportedJobs++
			return false
		}
		return br.Attempts > 0
	}, func(j store.Job) error {
		switch {
		case chargedSubmits(j) > 0 && b.Priced:
			usd, err := b.Pricer.Job(inputField(j.Input))
			if err != nil {
				r.UnknownJobs++
				return nil
			}
			r.EstimatedUSD += usd * float64(chargedSubmits(j))
			r.EstimatedJobs++
		case chargedSubmits(j) > 0:
			r.UnknownJobs++
		}
		return nil
	})
	return r, err
}

// Account is the batch's spend as its account tells it: r's figures, the
// budget, and what is left of it by the budget's own count (each job at
// the larger of its estimate and its reported cost, the rule the run
// stopped by).
func (b *Batch) Account(r SpendReport) account.Spend {
	s := account.Spend{ReportedUSD: account.Dollars(r.ReportedUSD), ReportedJobs: r.ReportedJobs,
		EstimatedUSD: account.Dollars(r.EstimatedUSD), EstimatedJobs: r.EstimatedJobs, UnknownJobs: r.UnknownJobs}
	s.SetBudget(b.LimitUSD())
	if b.Budget != nil {
		s.BudgetLeftUSD = account.Dollars(b.Budget.Figures().LeftUSD)
	}
	return s
}
