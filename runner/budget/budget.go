// Package budget caps the estimated spend of a batch in dollars (--max-cost).
//
// A Budget is consulted right before each submit is sent, re-sends of
// uncertain submits included: Reserve takes the job's estimated price from
// what is left, or refuses with ErrOverBudget when it would take the batch
// past its limit. A submit the API provably did not take (a refusal, or one
// never sent) gives its reservation back with Release; an uncertain one
// keeps it, because the job may exist and be paid for. Amounts are kept in
// micro-dollars so that sums are exact and a batch stops exactly at its
// limit.
package budget

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/pikabatch/pikabatch/runner/account"
)

// ErrOverBudget means a submit would take the batch past its budget. It
// comes inside an *OverError with the figures.
var ErrOverBudget = errors.New("over budget")

// OverError is a submit the budget refused.
type OverError struct {
	LimitUSD, SpentUSD, NeedUSD float64
}

func (e *OverError) Error() string {
	return fmt.Sprintf("%v: %s of %s spent (estimate), this job needs %s",
		ErrOverBudget, account.Format(e.SpentUSD), account.Format(e.LimitUSD), account.Format(e.NeedUSD))
}

// Unwrap returns ErrOverBudget.
func (e *OverError) Unwrap() error { return ErrOverBudget }

// Budget is a batch's spending limit and what it has spent. It is safe for
// concurrent use.
type Budget struct {
	mu    sync.Mutex
	limit int64 // micro-dollars; 0: no limit, spend is only counted
	spent int64 // micro-dollars, earlier runs included
	run   int64 // micro-dollars reserved by this run
}

// New returns a budget of limitUSD (0: none) of which spentUSD is already
// spent, by earlier runs.
func New(limitUSD, spentUSD float64) (*Budget, error) {
	for _, v := range []float64{limitUSD, spentUSD} {
		if !(v >= 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("budget: %v is not a non-negative number of dollars", v)
		}
	}
	return &Budget{limit: micro(limitUSD), spent: micro(spentUSD)}, nil
}

// micro converts dollars to micro-dollars.
func micro(usd float64) int64 { return int64(math.Round(usd * 1e6)) }

func dollars(m int64) float64 { return float64(m) / 1e6 }

// Reserve takes usd from the budget for one submit about to be sent, or
// returns an *OverError if that would take the spend past the limit. A
// spend that reaches the limit exactly is allowed.
func (b *Budget) Reserve(usd float64) error {
	if !(usd >= 0) || math.IsInf(usd, 0) {
		return fmt.Errorf("budget: job price %v is not a non-negative number of dollars", usd)
	}
	m := micro(usd)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limit > 0 && b.spent+m > b.limit {
		return &OverError{LimitUSD: dollars(b.limit), SpentUSD: dollars(b.spent), NeedUSD: usd}
	}
	b.spent += m
	b.run += m
	return nil
}

// Spend counts usd as spent whatever the limit: a submit that was sent
// without asking Reserve.
func (b *Budget) Spend(usd float64) {
	m := micro(usd)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.spent += m
	b.run += m
}

// Release gives back a reservation whose submit the API provably did not
// take.
func (b *Budget) Release(usd float64) {
	m := micro(usd)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.spent -= m
	b.run -= m
}

// Figures is a budget's state.
type Figures struct {
	LimitUSD float64 `json:"limit_usd,omitempty"` // 0: no limit
	SpentUSD float64 `json:"spent_usd"`           // estimated, all runs
	RunUSD   float64 `json:"run_usd"`             // estimated, this run
	LeftUSD  float64 `json:"left_usd,omitempty"`  // under the limit
}

// Figures returns what is spent and left.
func (b *Budget) Figures() Figures {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := Figures{LimitUSD: dollars(b.limit), SpentUSD: dollars(b.spent), RunUSD: dollars(b.run)}
	if b.limit > 0 {
		f.LeftUSD = dollars(max(b.limit-b.spent, 0))
	}
	return f
}
