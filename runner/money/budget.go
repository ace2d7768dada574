package money

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

// ErrAbsurdAmount means an amount too large for any batch: the budget refuses
// it rather than let its count overflow.
var ErrAbsurdAmount = errors.New("absurd amount")

// MaxBudgetUSD is the largest amount the budget takes in one figure (a limit, a
// spend, one job). The count is in micro-dollars in an int64, which holds
// about $9.2e12: with figures up to a billion dollars, thousands of them
// sum without overflow, and the sums are checked anyway.
const MaxBudgetUSD = 1e9

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

// NewBudget returns a budget of limitUSD (0: none) of which spentUSD is already
// spent, by earlier runs.
func NewBudget(limitUSD, spentUSD float64) (*Budget, error) {
	limit, err := micro(limitUSD)
	if err != nil {
		return nil, fmt.Errorf("budget: limit: %w", err)
	}
	spent, err := micro(spentUSD)
	if err != nil {
		return nil, fmt.Errorf("budget: spent: %w", err)
	}
	return &Budget{limit: limit, spent: spent}, nil
}

// micro converts dollars to micro-dollars, refusing what is not a
// non-negative number of dollars up to MaxBudgetUSD.
func micro(usd float64) (int64, error) {
	if !(usd >= 0) || !(usd <= MaxBudgetUSD) {
		return 0, fmt.Errorf("%w: %.6g is not a number of dollars from 0 to %.0f", ErrAbsurdAmount, usd, MaxBudgetUSD)
	}
	return int64(math.Round(usd * 1e6)), nil
}

// add is a+b, held at math.MaxInt64 rather than wrapped negative.
func add(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func dollars(m int64) float64 { return float64(m) / 1e6 }

// Reserve takes usd from the budget for one submit about to be sent, or
// returns an *OverError if that would take the spend past the limit. A
// spend that reaches the limit exactly is allowed.
func (b *Budget) Reserve(usd float64) error {
	m, err := micro(usd)
	if err != nil {
		return fmt.Errorf("budget: job price: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limit > 0 && add(b.spent, m) > b.limit {
		return &OverError{LimitUSD: dollars(b.limit), SpentUSD: dollars(b.spent), NeedUSD: usd}
	}
	b.spent = add(b.spent, m)
	b.run = add(b.run, m)
	return nil
}

// Spend counts usd as spent whatever the limit: a submit that was sent
// without asking Reserve, or what the API charged above a job's estimate.
// An amount that is not a number of dollars up to MaxBudgetUSD counts as
// MaxBudgetUSD: it is spent, and too much.
func (b *Budget) Spend(usd float64) {
	if usd <= 0 {
		return
	}
	m, err := micro(usd)
	if err != nil {
		m, _ = micro(MaxBudgetUSD)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.spent = add(b.spent, m)
	b.run = add(b.run, m)
}

// Release gives back a reservation whose submit the API provably did not
// take: an amount Reserve took, so in range.
func (b *Budget) Release(usd float64) {
	m, err := micro(usd)
	if err != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.spent -= m
	b.run -= m
}

// BudgetFigures is a budget's state.
type BudgetFigures struct {
	LimitUSD float64 `json:"limit_usd,omitempty"` // 0: no limit
	SpentUSD float64 `json:"spent_usd"`           // estimated, all runs
	RunUSD   float64 `json:"run_usd"`             // estimated, this run
	LeftUSD  float64 `json:"left_usd,omitempty"`  // under the limit
}

// Figures returns what is spent and left.
func (b *Budget) Figures() BudgetFigures {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := BudgetFigures{LimitUSD: dollars(b.limit), SpentUSD: dollars(b.spent), RunUSD: dollars(b.run)}
	if b.limit > 0 {
		f.LeftUSD = dollars(max(b.limit-b.spent, 0))
	}
	return f
}
