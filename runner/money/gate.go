package money

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pikabatch/pikabatch/runner/api"
)

// API is the job API the runner submits through; the runner declares the
// same methods, so a budgeted API goes where the client went. Only Submit
// and Result are about money: the budgeted API passes the others through.
type API interface {
	// Submit creates a paid job. It asks opts.SendGate right before each
	// send and sends nothing if the gate refuses. An error matching
	// api.ErrUncertain means the request was sent and its outcome is
	// unknown: a job may exist, and may be charged.
	Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error)
	// Status is cheap and idempotent; api.ErrNotFound means the ID is unknown.
	Status(ctx context.Context, requestID string) (api.Status, error)
	// Result is idempotent; its Cost is what the API charged the job, once known.
	Result(ctx context.Context, requestID string) (api.Result, error)
	// Cancel succeeds only while the job is queued (api.ErrNotCancellable otherwise).
	Cancel(ctx context.Context, requestID string) error
}

var _ API = (*api.Client)(nil)

var _ API = budgetedAPI{}

// budgetedAPI consults the budget right before each submit is sent, at
// the client's send gate (after the rate limiter's wait, before the
// runner records "submitting"), re-sends included: a submit that would take
// the batch past --max-cost is not sent. A submit the API provably did not
// take gives its money back; an uncertain one keeps it (the job may exist
// and be paid for).
type budgetedAPI struct {
	API
	budget *Budget
	pricer Pricer
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

// Submit reserves the job's estimate at the send gate, and gives it back
// when the API provably did not take the job. It relies on the API's
// contract that nothing is sent without asking the gate: an unreserved
// submit was not sent.
func (a budgetedAPI) Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error) {
	usd, err := a.pricer.Job(inputField(input))
	switch {
	case errors.Is(err, ErrAbsurd):
		return api.SubmitResponse{}, fmt.Errorf("not sent: %w", err)
	case err != nil:
		return api.SubmitResponse{}, fmt.Errorf("%w: the job's cost is unknown (%w)", ErrOverBudget, err)
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
	if reserved && err != nil && !errors.Is(err, api.ErrUncertain) {
		// The API provably did not take it: nothing to pay.
		a.budget.Release(usd)
	}
	return resp, err
}
