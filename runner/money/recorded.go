package money

import (
	"context"
	"fmt"
	"math"
)

// Recorded is what a state file recorded of a batch's money: the price its
// runs priced jobs at, its budget, and what the budget counts as spent. A
// dry run previews with them, as the run would go.
type Recorded struct {
	Pricer   Pricer
	Priced   bool    // Pricer prices jobs
	LimitUSD float64 // 0: no budget
	SpentUSD float64 // as the budget counts it; 0 without a budget
}

// ReadRecorded reads the recorded price and budget of st.
func ReadRecorded(ctx context.Context, st Store) (*Recorded, error) {
	rec := &Recorded{}
	raw, err := st.Meta(ctx, PriceMetaKey)
	if err != nil {
		return nil, err
	}
	if raw != "" {
		if rec.Pricer, err = ParseRecord(raw); err != nil {
			return nil, fmt.Errorf("state file: %w", err)
		}
		_, perr := rec.Pricer.Job(func(string) (any, bool) { return 5, true })
		rec.Priced = perr == nil
	}
	if rec.LimitUSD, err = RecordedLimit(ctx, st); err != nil {
		return nil, err
	}
	if rec.LimitUSD > 0 && rec.Priced {
		if rec.SpentUSD, _, err = SpentInState(ctx, st, rec.Pricer); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// LeftUSD is what the recorded budget leaves.
func (r *Recorded) LeftUSD() float64 { return max(r.LimitUSD-r.SpentUSD, 0) }

// Unsent is about how many of the submits rows a plan would send, costing
// hi at the most, the budget would leave unsent, and the budget that would
// pay for them all; ok is false when what is left covers them.
func (r *Recorded) Unsent(hi Total, submits int) (rows int, needUSD float64, ok bool) {
	left := RoundUSD(r.LeftUSD())
	if submits == 0 || hi.Rows == 0 || RoundUSD(hi.USD) <= left {
		return 0, 0, false
	}
	each := hi.USD / float64(hi.Rows)
	fits := 0
	if each > 0 {
		fits = min(int(math.Floor(left/each)), submits)
	}
	return submits - fits, RoundUSD(r.SpentUSD + hi.USD), true
}
