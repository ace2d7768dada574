package money

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/api"
)

// gatedAPI asks the send gate as the client does, then answers with err.
type gatedAPI struct {
	API
	err  error
	cost *float64
}

func (g gatedAPI) Submit(_ context.Context, _ string, _ any, opts api.SubmitOptions) (api.SubmitResponse, error) {
	if err := opts.SendGate(); err != nil {
		return api.SubmitResponse{}, err
	}
	if g.err != nil {
		return api.SubmitResponse{}, g.err
	}
	return api.SubmitResponse{RequestID: "req-1"}, nil
}

func (g gatedAPI) Result(context.Context, string) (api.Result, error) {
	return api.Result{RequestID: "req-1", Cost: g.cost}, nil
}

// The budgeted API keeps what a submit may have cost and gives back what
// it provably did not.
func TestBudgetedAPI(t *testing.T) {
	t.Parallel()
	charged := 0.1
	tests := []struct {
		name      string
		api       gatedAPI
		wantErr   error
		wantSpent float64
	}{
		{name: "accepted", api: gatedAPI{}, wantSpent: 0.044},
		{name: "rejected gives it back", api: gatedAPI{err: api.ErrRejected}, wantErr: api.ErrRejected},
		{name: "uncertain keeps it", api: gatedAPI{err: fmt.Errorf("lost: %w", api.ErrUncertain)}, wantErr: api.ErrUncertain, wantSpent: 0.044},
		{name: "a charge above the estimate counts", api: gatedAPI{cost: &charged}, wantSpent: 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &Batch{Pricer: NewPricer(PriceConfig{OverrideUSD: 0.044}), Priced: true, open: &openCharges{jobs: map[string]float64{}}}
			var err error
			b.Budget, err = NewBudget(1, 0)
			require.NoError(t, err)
			a := b.API(tt.api)
			_, err = a.Submit(context.Background(), "m", map[string]any{}, api.SubmitOptions{})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
				_, err = a.Result(context.Background(), "req-1")
				require.NoError(t, err)
			}
			assert.InDelta(t, tt.wantSpent, b.Budget.Figures().SpentUSD, 1e-9)
		})
	}
}

// A submit the budget cannot pay for is not sent.
func TestBudgetedAPIRefusesPastTheLimit(t *testing.T) {
	t.Parallel()
	b := &Batch{Pricer: NewPricer(PriceConfig{OverrideUSD: 0.044}), Priced: true, open: &openCharges{jobs: map[string]float64{}}}
	var err error
	b.Budget, err = NewBudget(0.05, 0.044)
	require.NoError(t, err)
	sent := errors.New("sent")
	_, err = b.API(gatedAPI{err: sent}).Submit(context.Background(), "m", nil, api.SubmitOptions{})
	var over *OverError
	require.ErrorAs(t, err, &over)
	assert.NotErrorIs(t, err, sent)
	assert.InDelta(t, 0.044, b.Budget.Figures().SpentUSD, 1e-9)
}
