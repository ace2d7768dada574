package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"sync"

	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// Meta keys of the state file beside the binding (store/binding.go).
const (
	// metaMaxCost is --max-cost, in dollars: the budget holds across runs,
	// also those not given the flag again.
	metaMaxCost = "max_cost_usd"

	// metaBudgetPrices are the prices (money.PriceConfig, a JSON array) runs
	// priced their jobs at: the spend of earlier jobs is counted at
	// the highest, so a price that drops between runs does not give back
	// budget the jobs already used.
	metaBudgetPrices = "budget_prices"
)

// prepareCatalog reads the model's catalog entry once, before the first
// submit: its input schema (recorded at first use) and its price, which
// the budget and the balance check use.
func (b *batch) prepareCatalog(ctx context.Context, st *store.Store, tr http.RoundTripper) (*spend, error) {
	acct := b.o.accountClient(tr)
	model, merr := acct.Model(ctx, b.o.model)
	if err := b.inFolder(func(f *store.Folder) error { return b.settleSchema(ctx, st, f, model, merr) }); err != nil {
		return nil, err
	}
	return b.prepareSpend(ctx, acct, st, model, merr)
}

// spend is a run's money side: the price of a job, the budget, the
// balance check.
type spend struct {
	pricer  money.Pricer
	priced  bool          // pricer prices jobs (a catalog price or --price)
	budget  *money.Budget // nil without --max-cost (given now or recorded)
	open    *openCharges  // jobs counted at their estimate until charged
	balance *api.Balance  // nil when not read
}

// catalogReader is the catalog and balance calls the run makes before the
// first submit.
type catalogReader interface {
	Model(ctx context.Context, id string) (api.Model, error)
	Balance(ctx context.Context) (api.Balance, error)
}

// accountClient is the client of the catalog and balance reads before the
// first submit: they inform, so they are retried once, not for minutes. An
// invalid base URL was refused by the run's own client already.
func (o batchOptions) accountClient(tr http.RoundTripper) catalogReader {
	c, err := api.New(api.Config{BaseURL: o.apiBase, BalanceURL: o.cost.balanceBase, Token: o.token,
		HTTPClient: &http.Client{Transport: tr}, Limiter: rate.NewLimiter(catalogRPS, 1), MaxRetries: 1})
	if err != nil {
		return unreadable{err}
	}
	return c
}

// unreadable answers every read with err.
type unreadable struct{ err error }

func (u unreadable) Model(context.Context, string) (api.Model, error) { return api.Model{}, u.err }
func (u unreadable) Balance(context.Context) (api.Balance, error)     { return api.Balance{}, u.err }

// prepareSpend reads the model's price, sets the budget up from the state
// and --max-cost, and checks the balance against the rows left, before
// anything is submitted.
func (b *batch) prepareSpend(ctx context.Context, c catalogReader, st *store.Store, m api.Model, merr error) (*spend, error) {
	o := b.o
	s := &spend{}
	limit, err := b.budgetLimit(ctx, st)
	if err != nil {
		return nil, err
	}
	needPrice := limit > 0 || o.cost.requireBalance
	if o.cost.priceUSD <= 0 && merr != nil {
		if needPrice {
			b.log.Warn("no price for the model from the catalog; set --price USD", "model", o.model, "err", merr)
		} else {
			b.log.Info("no price for the model from the catalog; cost estimates are off", "model", o.model, "err", merr)
		}
	}
	s.pricer = pricerFor(m, o.cost.priceUSD)
	if err := recordPrice(ctx, st, &s.pricer, merr); err != nil {
		return nil, err
	}
	if err := s.pricer.Check(); err != nil {
		return nil, fmt.Errorf("model %s: %w; nothing was sent", o.model, err)
	}
	probe, perr := s.pricer.Job(func(string) (any, bool) { return 5, true })
	s.priced = perr == nil
	if s.priced && probe == 0 && limit > 0 {
		b.log.Warn("the price of a job is $0.00: the budget counts only what the API reports once each job ends, "+
			"so the jobs in flight may take the spend past --max-cost; set --price USD", "model", o.model)
	}
	pricers := []money.Pricer{s.pricer}
	if s.priced {
		// Recorded by every priced run: a budget set later counts the
		// jobs sent before it at their price.
		if pricers, err = budgetPricers(ctx, st, priceConfigFor(m, o.cost.priceUSD)); err != nil {
			return nil, err
		}
	}
	if limit > 0 {
		if !s.priced {
			return nil, usagef("--max-cost needs the price of a job: %s (%v); set --price USD", s.pricer.Describe(), perr)
		}
		s.open = &openCharges{jobs: map[string]float64{}}
		spent, unknown, err := spentInState(ctx, st, s.open, pricers...)
		if err != nil {
			return nil, err
		}
		if unknown > 0 {
			b.log.Warn("jobs of earlier runs whose price is unknown are not counted in the budget", "jobs", unknown)
		}
		if s.budget, err = money.NewBudget(limit, spent); err != nil {
			return nil, err
		}
		f := s.budget.Figures()
		b.log.Info("budget", "max_cost_usd", f.LimitUSD, "spent_usd", roundUSD(f.SpentUSD), "left_usd", roundUSD(f.LeftUSD))
	}
	if err := b.checkBalance(ctx, c, st, s); err != nil {
		return nil, err
	}
	return s, nil
}

// recordPrice records the price of a job in the state file at first use
// (money.PriceMetaKey), as the input schema is, so that status and export
// estimate the jobs the API reported no cost for with no catalog at hand;
// a --price given later is recorded over it, as the run's summary uses
// it. A catalog that cannot answer now leaves p as the one recorded.
func recordPrice(ctx context.Context, st metaStore, p *money.Pricer, merr error) error {
	raw, err := st.Meta(ctx, money.PriceMetaKey)
	if err != nil {
		return err
	}
	if merr != nil && p.Kind() != money.PerJob && raw != "" {
		if *p, err = money.ParseRecord(raw); err != nil {
			return fmt.Errorf("state file: %w", err)
		}
		return nil
	}
	rec, err := p.Record()
	if err != nil || rec == "" || rec == raw || (raw != "" && p.Kind() != money.PerJob) {
		return err
	}
	return st.SetMeta(ctx, money.PriceMetaKey, rec)
}

// estimator estimates the cost of jobs without a reported one in the
// results index; nil without a price.
func (s *spend) estimator() results.Estimator {
	if !s.priced {
		return nil
	}
	return live.Estimator(s.pricer)
}

// recordedPricer is the price status and export estimate with while this
// run holds the state file; nil without one.
func (s *spend) recordedPricer() *money.Pricer {
	if !s.priced {
		return nil
	}
	p := s.pricer
	return &p
}

// budgetLimit is --max-cost, recorded in the state for the runs after; or,
// without the flag, the one recorded.
func (b *batch) budgetLimit(ctx context.Context, st *store.Store) (float64, error) {
	if v := b.o.cost.maxCostUSD; v > 0 {
		if err := st.SetMeta(ctx, metaMaxCost, strconv.FormatFloat(v, 'f', -1, 64)); err != nil {
			return 0, err
		}
		return v, nil
	}
	raw, err := st.Meta(ctx, metaMaxCost)
	if err != nil || raw == "" {
		return 0, err
	}
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("state file: %s %q is not a number of dollars", metaMaxCost, raw)
	}
	if v > 0 {
		b.log.Info("budget recorded in the state file applies", "max_cost_usd", v)
	}
	return v, nil
}

// budgetPricers records this run's price among the budget's (before the
// first submit, so that a run killed later has it recorded) and returns a
// pricer for each price recorded, this run's first.
func budgetPricers(ctx context.Context, st *store.Store, now money.PriceConfig) ([]money.Pricer, error) {
	var cfgs []money.PriceConfig
	if raw, err := st.Meta(ctx, metaBudgetPrices); err != nil {
		return nil, err
	} else if raw != "" {
		if err := json.Unmarshal([]byte(raw), &cfgs); err != nil {
			return nil, fmt.Errorf("state file: %s does not decode: %w", metaBudgetPrices, err)
		}
	}
	pricers := []money.Pricer{money.NewPricer(now)}
	known := false
	for _, c := range cfgs {
		known = known || reflect.DeepEqual(c, now)
		pricers = append(pricers, money.NewPricer(c))
	}
	if !known {
		raw, err := json.Marshal(append(cfgs, now))
		if err != nil {
			return nil, err
		}
		if err := st.SetMeta(ctx, metaBudgetPrices, string(raw)); err != nil {
			return nil, err
		}
	}
	return pricers, nil
}

// spentInState is the spend of the jobs a state file records: each job's
// price (the highest of the pricers that can price it, or what the API
// reported it charged when that is more) times its submits that may have
// been charged (chargedSubmits). Jobs still on the API are put in open
// (when not nil), to be counted again once their charge is reported. Each job is
// rounded to micro-dollars, as the budget reserved it, and summed
// exactly: a float sum of raw prices drifts below what the runs reserved.
func spentInState(ctx context.Context, st runner.Checkpoint, open *openCharges, pricers ...money.Pricer) (usd float64, unknown int, err error) {
	var micro int64
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
		if cost, ok := money.Reported(j.CostUSD); ok {
			// What the API charged, when above the estimate.
			each = max(each, int64(math.Round(cost*1e6)))
		} else if open != nil && j.RequestID != "" && !j.State.IsTerminal() {
			open.add(j.RequestID, float64(each)/1e6)
		}
		micro += each * int64(n)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count the spend recorded in the state: %w", err)
	}
	return float64(micro) / 1e6, unknown, nil
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

// roundUSD rounds dollars to micro-dollars for logs and JSON: sums of
// floats carry binary noise (0.26399999999999996).
func roundUSD(v float64) float64 { return math.Round(v*1e6) / 1e6 }

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

// checkBalance compares the account's balance with the estimate of the
// rows left. A balance that cannot be read is a warning, never a stop; one
// below the estimate is a warning, or a refusal with --require-balance.
func (b *batch) checkBalance(ctx context.Context, c catalogReader, st *store.Store, s *spend) error {
	if !s.priced {
		if b.o.cost.requireBalance {
			b.log.Warn("--require-balance: no price for the model, so the balance is not compared")
		}
		return nil
	}
	bal, err := c.Balance(ctx)
	if err != nil {
		b.log.Warn("balance unknown; not compared with the estimate", "err", err)
		return nil
	}
	s.balance = &bal
	if b.balanceCoversWithoutPlan(ctx, st, s.pricer, bal.USD) {
		return nil
	}
	left, err := b.estimateLeft(ctx, st, s.pricer)
	if err != nil {
		return err
	}
	if left.USD == 0 {
		return nil
	}
	if bal.USD >= left.USD {
		b.log.Info("balance covers the estimate", "balance_usd", bal.USD, "estimate_usd", roundUSD(left.USD), "rows", left.Rows)
		return nil
	}
	msg := fmt.Sprintf("balance %s is below the estimated cost %s of the %d rows left", money.USD(bal.USD), money.USD(left.USD), left.Rows)
	if b.o.cost.requireBalance {
		return fmt.Errorf("%s (--require-balance); nothing was sent: %w", msg, api.ErrPaymentRequired)
	}
	b.log.Warn(msg+"; the API refuses submits once it is spent", "balance_usd", bal.USD, "estimate_usd", roundUSD(left.USD))
	return nil
}

// balanceCoversWithoutPlan reports whether the balance is known to pay for
// the rows left without planning them (a second pass over the manifest and
// the state).
func (b *batch) balanceCoversWithoutPlan(ctx context.Context, st *store.Store, p money.Pricer, balUSD float64) bool {
	flat := p.Kind() == money.PerOutput || p.Kind() == money.PerJob
	each, _ := p.Job(nil)
	if flat && balUSD >= each*float64(b.shardRows) {
		// Every row costs the same, and the balance pays for all of them.
		b.log.Debug("balance covers every row", "balance_usd", balUSD, "rows", b.shardRows)
		return true
	}
	// Nor when it pays for the rows whose job will not be sent again left
	// out: a batch resumed near its end (a million rows, most of them
	// done) is counted from the state's briefs in a second, not planned
	// row by row. With nothing left it needs no price per row at all, so a
	// model priced per second of duration (video) takes this way too.
	settled, err := settledJobs(ctx, st, b.o.retryFailed)
	if err != nil {
		return false
	}
	left := max(0, b.shardRows-settled)
	if left == 0 || flat && balUSD >= each*float64(left) {
		b.log.Debug("balance covers the rows left", "balance_usd", balUSD, "rows", b.shardRows, "settled", settled)
		return true
	}
	return false
}

// settledJobs counts the jobs of the manifest's rows that a run will not
// send again: those with a render on the API or done, and, without
// --retry-failed, those that ended. Orphans (no row of the last manifest
// claims them) are not counted. It is a lower bound of what the plan
// would skip, as the balance check needs, but for a manifest that lost
// rows since the last run read it whole.
func settledJobs(ctx context.Context, st *store.Store, retryFailed bool) (int, error) {
	n := 0
	err := st.ForEachBrief(ctx, func(_ []byte, br store.Brief) bool {
		if !br.Orphan && (br.State.HasRequestID() || (!retryFailed && br.State.IsTerminal())) {
			n++
		}
		return false
	}, func(store.Job) error { return nil })
	return n, err
}

// estimateLeft prices the rows a run would submit: the plan against the
// state, read as a dry run does (the upper end when rows cost differently).
func (b *batch) estimateLeft(ctx context.Context, st *store.Store, p money.Pricer) (money.Total, error) {
	rows, err := manifestRows(b.o.manifest, b.manifestConfig())
	if err != nil {
		return money.Total{}, err
	}
	defer rows.Close()
	priced := &pricedRows{RowSource: shard.Filter(rows, b.spec), p: p}
	plan, err := runner.PlanRows(ctx, priced, st, runner.PlanOptions{OutDir: b.o.out, RetryFailed: b.o.retryFailed,
		HoldUncertain: b.o.holdUncertain, MaxResends: b.o.maxResends})
	if err != nil {
		return money.Total{}, fmt.Errorf("estimate the rows left: %w", err)
	}
	_, hi := priced.planCost(plan.Submits)
	return hi, nil
}

// budgetedAPI consults the budget right before each submit is sent, at
// the client's send gate (after the rate limiter's wait, before the
// runner records "submitting"), re-sends included: a submit that would take
// the batch past --max-cost is not sent. A submit the API provably did not
// take gives its money back; an uncertain one keeps it (the job may exist
// and be paid for).
type budgetedAPI struct {
	runner.API
	budget *money.Budget
	pricer money.Pricer
	open   *openCharges
}

// openCharges are the jobs the budget counts at their estimate until the
// API reports what it charged: a finished job counts at the larger of the
// two, or a price far below the real charge would let the batch spend
// past its budget while it says money is left.
type openCharges struct {
	mu   sync.Mutex
	jobs map[string]float64 // request ID → estimate counted
}

// add counts a job sent now (or in flight from an earlier run) at usd.
func (o *openCharges) add(requestID string, usd float64) {
	if requestID == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.jobs[requestID] = usd
}

// settle returns what a job the API reported a cost for costs above its
// estimate, once.
func (o *openCharges) settle(requestID string, cost float64) float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	est, ok := o.jobs[requestID]
	if !ok {
		return 0
	}
	delete(o.jobs, requestID)
	return max(cost-est, 0)
}

// Result counts what the API charged above the estimate the budget holds.
func (a budgetedAPI) Result(ctx context.Context, requestID string) (api.Result, error) {
	res, err := a.API.Result(ctx, requestID)
	if err == nil && res.Cost != nil {
		if extra := a.open.settle(requestID, *res.Cost); extra > 0 {
			a.budget.Spend(extra)
		}
	}
	return res, err
}

func (a budgetedAPI) Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error) {
	usd, err := a.pricer.Job(inputField(input))
	switch {
	case errors.Is(err, money.ErrAbsurd):
		return api.SubmitResponse{}, fmt.Errorf("not sent: %w", err)
	case err != nil:
		return api.SubmitResponse{}, fmt.Errorf("%w: the job's cost is unknown (%w)", money.ErrOverBudget, err)
	}
	// The gate runs before every attempt; attempts after the first follow
	// one the API provably did not act on, so the job is reserved once.
	reserved := false
	record := opts.SendGate
	opts.SendGate = func() error {
		if !reserved {
			if err := a.budget.Reserve(usd); err != nil {
				return err
			}
			reserved = true
		}
		if record != nil {
			return record()
		}
		return nil
	}
	resp, err := a.API.Submit(ctx, model, input, opts)
	if err == nil {
		a.open.add(resp.RequestID, usd)
	}
	sent := err == nil || errors.Is(err, api.ErrUncertain)
	switch {
	case reserved && !sent:
		a.budget.Release(usd)
	case !reserved && sent:
		// An API that never asked the gate still sent it: count it.
		a.budget.Spend(usd)
	}
	return resp, err
}

// api is the API the runner submits through: the client, behind the
// budget when there is one.
func (s *spend) api(client runner.API) runner.API {
	if s.budget == nil {
		return client
	}
	return budgetedAPI{API: client, budget: s.budget, pricer: s.pricer, open: s.open}
}

// reportRunSpend says this run's part of the spend, below the batch's
// account (which tells the whole batch's): what the API reported for the
// jobs this run finished, and what the budget counted this run.
func (b *batch) reportRunSpend(stdout, stderr io.Writer, s *spend, r spendReport) {
	w := stdout
	if b.o.jsonSummary {
		w = stderr
	}
	if r.ReportedJobs == 0 && r.EstimatedJobs == 0 && r.UnknownJobs == 0 && s.budget == nil {
		return
	}
	line := fmt.Sprintf("this run's spend: %s as the API reported it", money.USD(r.RunReportedUSD))
	if s.budget != nil {
		// The budget's count can exceed the spend: a job counts at the
		// highest price any run priced it at, or its reported cost.
		f := s.budget.Figures()
		line += fmt.Sprintf("; the budget counted %s this run, %s in all of %s; %s left",
			money.USD(f.RunUSD), money.USD(f.SpentUSD), money.USD(f.LimitUSD), money.USD(f.LeftUSD))
	}
	fmt.Fprintln(w, line)
}

// budgetReached is a run that stopped submitting at its budget: the
// normal end of a budgeted run, told in one line (what was spent, the rows
// waiting, how to go on), still exit 75 as the run is not finished.
type budgetReached struct {
	err          error // the run's, ErrSubmitsStopped
	spent, limit float64
	waiting      int
	need         float64 // --max-cost that would pay for the rows waiting
}

func (e *budgetReached) Error() string {
	line := fmt.Sprintf("budget reached: %s of %s spent; %d rows wait", money.USD(e.spent), money.USD(e.limit), e.waiting)
	if e.need > e.limit {
		line += fmt.Sprintf("; to go on, run again with --max-cost %s (their estimate added)",
			strconv.FormatFloat(roundUSD(e.need), 'f', -1, 64))
	} else {
		line += "; to go on, run again with a higher --max-cost"
	}
	return line
}

func (e *budgetReached) Unwrap() error { return e.err }

// budgetStop is runErr told as budgetReached when the budget stopped the
// run's submits, else runErr.
func budgetStop(runErr error, s *spend, sum runner.Summary) error {
	var over *money.OverError
	if s.budget == nil || !errors.As(runErr, &over) {
		return runErr
	}
	f := s.budget.Figures()
	waiting := sum.NotSubmitted + sum.Held
	return &budgetReached{err: runErr, spent: f.SpentUSD, limit: f.LimitUSD, waiting: waiting,
		need: f.SpentUSD + over.NeedUSD*float64(waiting)}
}

// spendReport is the real spend of a batch: what the API reported per job,
// and an estimate for the jobs sent without a reported cost.
type spendReport struct {
	ReportedUSD     float64 `json:"reported_usd"`
	ReportedJobs    int     `json:"reported_jobs"`
	RunReportedUSD  float64 `json:"run_reported_usd"` // of jobs finished this run
	RunReportedJobs int     `json:"run_reported_jobs"`
	EstimatedUSD    float64 `json:"estimated_usd,omitempty"` // jobs sent without a reported cost, at the estimate
	EstimatedJobs   int     `json:"estimated_jobs,omitempty"`
	UnknownJobs     int     `json:"unknown_jobs,omitempty"` // neither reported nor priced
}

// briefScanner reads a state's jobs by their briefs (*store.Store).
type briefScanner interface {
	ForEachBrief(ctx context.Context, brief func(key []byte, b store.Brief) bool, fn func(store.Job) error) error
}

// spendOf reads the real spend from the state: each job's reported cost,
// else its estimate times its charged submits, marked as such. The spend
// of this run is the runner's count, run: a pass that told it from the
// jobs' finish times would decode every record (6 s at a million jobs);
// this one decodes only the jobs sent without a reported cost.
func spendOf(ctx context.Context, st briefScanner, s *spend, run runner.Summary) (spendReport, error) {
	r := spendReport{RunReportedUSD: run.ReportedCostUSD.Float(), RunReportedJobs: run.ReportedCostJobs}
	err := st.ForEachBrief(ctx, func(_ []byte, br store.Brief) bool {
		if cost, ok := money.Reported(br.CostUSD); ok {
			r.ReportedUSD += cost
			r.ReportedJobs++
			return false
		}
		return br.Attempts > 0
	}, func(j store.Job) error {
		switch {
		case chargedSubmits(j) > 0 && s.priced:
			usd, err := s.pricer.Job(inputField(j.Input))
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
