package money

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReserve(t *testing.T) {
	t.Parallel()
	type step struct {
		reserve, release, spend float64
		wantErr                 bool
	}
	tests := []struct {
		name         string
		limit, spent float64
		steps        []step
		want         BudgetFigures
	}{
		{name: "stops exactly at the limit", limit: 0.132,
			steps: []step{{reserve: 0.044}, {reserve: 0.044}, {reserve: 0.044}, {reserve: 0.044, wantErr: true}},
			want:  BudgetFigures{LimitUSD: 0.132, SpentUSD: 0.132, RunUSD: 0.132}},
		{name: "earlier runs count", limit: 0.22, spent: 0.132,
			steps: []step{{reserve: 0.044}, {reserve: 0.044}, {reserve: 0.044, wantErr: true}},
			want:  BudgetFigures{LimitUSD: 0.22, SpentUSD: 0.22, RunUSD: 0.088}},
		{name: "a refused submit gives its money back", limit: 0.1,
			steps: []step{{reserve: 0.06}, {reserve: 0.06, wantErr: true}, {release: 0.06}, {reserve: 0.06}},
			want:  BudgetFigures{LimitUSD: 0.1, SpentUSD: 0.06, RunUSD: 0.06, LeftUSD: 0.04}},
		{name: "a cheaper job still fits", limit: 0.1,
			steps: []step{{reserve: 0.08}, {reserve: 0.04, wantErr: true}, {reserve: 0.02}},
			want:  BudgetFigures{LimitUSD: 0.1, SpentUSD: 0.1, RunUSD: 0.1}},
		{name: "spent without asking counts past the limit", limit: 0.1,
			steps: []step{{reserve: 0.08}, {spend: 0.08}, {reserve: 0.01, wantErr: true}},
			want:  BudgetFigures{LimitUSD: 0.1, SpentUSD: 0.16, RunUSD: 0.16}},
		{name: "no limit: only counted", spent: 1,
			steps: []step{{reserve: 5}, {reserve: 5}},
			want:  BudgetFigures{SpentUSD: 11, RunUSD: 10}},
		{name: "already past the limit", limit: 0.1, spent: 0.2,
			steps: []step{{reserve: 0.01, wantErr: true}},
			want:  BudgetFigures{LimitUSD: 0.1, SpentUSD: 0.2}},
		{name: "tenths add up exactly", limit: 0.3,
			steps: []step{{reserve: 0.1}, {reserve: 0.1}, {reserve: 0.1}, {reserve: 0.000001, wantErr: true}},
			want:  BudgetFigures{LimitUSD: 0.3, SpentUSD: 0.3, RunUSD: 0.3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := NewBudget(tt.limit, tt.spent)
			require.NoError(t, err)
			for i, s := range tt.steps {
				if s.release > 0 {
					b.Release(s.release)
					continue
				}
				if s.spend > 0 {
					b.Spend(s.spend)
					continue
				}
				err := b.Reserve(s.reserve)
				if s.wantErr {
					require.ErrorIs(t, err, ErrOverBudget, "step %d", i)
					var oe *OverError
					require.ErrorAs(t, err, &oe)
					assert.Equal(t, s.reserve, oe.NeedUSD)
				} else {
					require.NoError(t, err, "step %d", i)
				}
			}
			assert.Equal(t, tt.want, b.Figures())
		})
	}
}

func TestOverErrorText(t *testing.T) {
	t.Parallel()
	b, err := NewBudget(0.132, 0.132)
	require.NoError(t, err)
	assert.EqualError(t, b.Reserve(0.044), "over budget: $0.132 of $0.132 spent (estimate), this job needs $0.044")
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	for _, v := range [][2]float64{{-1, 0}, {0, -1}} {
		_, err := NewBudget(v[0], v[1])
		assert.Error(t, err)
	}
	b, err := NewBudget(1, 0)
	require.NoError(t, err)
	assert.Error(t, b.Reserve(-0.5))
}

// TestConcurrentReserve: many submits at once never overshoot.
func TestConcurrentReserve(t *testing.T) {
	t.Parallel()
	b, err := NewBudget(1, 0)
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 100 {
		wg.Go(func() {
			if b.Reserve(0.03) == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 33, ok)
	assert.InDelta(t, 0.99, b.Figures().SpentUSD, 1e-9)
}

// TestReserveRefusesAbsurdAmounts: an estimate too big for the budget's
// micro-dollar count is refused with a clear error and counts nothing: it
// must not wrap the spend negative and let every later submit fit.
func TestReserveRefusesAbsurdAmounts(t *testing.T) {
	t.Parallel()
	b, err := NewBudget(0.5, 0)
	require.NoError(t, err)
	err = b.Reserve(1e13)
	require.ErrorIs(t, err, ErrAbsurdAmount)
	assert.Equal(t, BudgetFigures{LimitUSD: 0.5, LeftUSD: 0.5}, b.Figures())
	fits := 0
	for range 21 {
		if b.Reserve(0.044) == nil {
			fits++
		}
	}
	assert.Equal(t, 11, fits, "$0.5 holds 11 jobs at $0.044")

	_, err = NewBudget(1e13, 0)
	assert.ErrorIs(t, err, ErrAbsurdAmount)
	_, err = NewBudget(1, 1e300)
	assert.ErrorIs(t, err, ErrAbsurdAmount)

	// Counted past the limit without asking (a job the API charged more
	// than its estimate): never wraps.
	b, err = NewBudget(1, 0)
	require.NoError(t, err)
	for range 3 {
		b.Spend(MaxBudgetUSD)
	}
	f := b.Figures()
	assert.Positive(t, f.SpentUSD)
	assert.ErrorIs(t, b.Reserve(0.01), ErrOverBudget)
}
