package money

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func usd(v float64) *float64 { return &v }

func row(kv ...any) func(string) (any, bool) {
	return func(name string) (any, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == name {
				return kv[i+1], true
			}
		}
		return nil, false
	}
}

func TestJob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     PriceConfig
		row     func(string) (any, bool)
		want    float64
		wantErr error
		desc    string
	}{
		{name: "per output", cfg: PriceConfig{BaseUSD: usd(0.044), Unit: "output"}, row: row("duration", 10), want: 0.044, desc: "base $0.044/output"},
		{name: "per output, CLI form", cfg: PriceConfig{BaseUSD: usd(0.044), Unit: "$0.044/output"}, want: 0.044, desc: "base $0.044/output"},
		{name: "per image", cfg: PriceConfig{BaseUSD: usd(0.003), Unit: "image"}, want: 0.003, desc: "base $0.003/output"},
		{name: "per second, int duration", cfg: PriceConfig{BaseUSD: usd(0.02), Unit: "second"}, row: row("duration", 8), want: 0.16, desc: "base $0.020/second"},
		{name: "per second, CSV string", cfg: PriceConfig{BaseUSD: usd(0.02), Unit: "per second"}, row: row("duration", "10"), want: 0.2},
		{name: "per second, JSON number", cfg: PriceConfig{BaseUSD: usd(0.02), Unit: "/sec"}, row: row("duration", json.Number("2.5")), want: 0.05},
		{name: "per second, schema default", cfg: PriceConfig{BaseUSD: usd(0.02), Unit: "second", DefaultSeconds: 5}, row: row(), want: 0.1},
		{name: "per second, no duration", cfg: PriceConfig{BaseUSD: usd(0.02), Unit: "second"}, row: row("seed", 1), wantErr: ErrNoDuration},
		{name: "per second, bad duration", cfg: PriceConfig{BaseUSD: usd(0.02), Unit: "second", DefaultSeconds: 5}, row: row("duration", "auto"), wantErr: ErrNoDuration},
		{name: "unknown unit", cfg: PriceConfig{BaseUSD: usd(1), Unit: "megapixel"}, want: 0, wantErr: ErrUnknownUnit, desc: `base $1.000, unknown unit "megapixel"`},
		{name: "empty unit", cfg: PriceConfig{BaseUSD: usd(1)}, wantErr: ErrUnknownUnit},
		{name: "no price", cfg: PriceConfig{Unit: "output"}, wantErr: ErrNoPrice, desc: "no price"},
		{name: "override wins", cfg: PriceConfig{BaseUSD: usd(0.02), Unit: "megapixel", OverrideUSD: 0.05}, row: row("duration", 10), want: 0.05, desc: "--price $0.050/job"},
		{name: "override without catalog", cfg: PriceConfig{OverrideUSD: 0.5}, want: 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := NewPricer(tt.cfg)
			got, err := p.Job(tt.row)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Zero(t, got)
			} else {
				require.NoError(t, err)
				assert.InDelta(t, tt.want, got, 1e-12)
			}
			if tt.desc != "" {
				assert.Equal(t, tt.desc, p.Describe())
			}
		})
	}
}

// TestJobPerSecondIsExact: a per-second price times a duration is the
// dollar figure the catalog means, not its binary neighbour: $0.0088 x 5 s
// is $0.044, so that a budget of three such jobs admits three.
func TestJobPerSecondIsExact(t *testing.T) {
	t.Parallel()
	p := NewPricer(PriceConfig{BaseUSD: usd(0.0088), Unit: "second", DefaultSeconds: 5})
	for _, tt := range []struct {
		row  func(string) (any, bool)
		want float64
	}{{row(), 0.044}, {row("duration", 10), 0.088}, {row("duration", "5"), 0.044}} {
		got, err := p.Job(tt.row)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got)
	}
	assert.Equal(t, "base $0.0088/second", p.Describe())
	var tot Total
	for _, d := range []int{5, 10, 5} {
		tot.Add(p, row("duration", d))
	}
	assert.Equal(t, 0.176, tot.USD, "the sum too")
}

func TestTotal(t *testing.T) {
	t.Parallel()
	p := NewPricer(PriceConfig{BaseUSD: usd(0.02), Unit: "second"})
	var tot Total
	tot.Add(p, row("duration", 5))
	tot.Add(p, row("duration", 10))
	tot.Add(p, row())
	assert.InDelta(t, 0.3, tot.USD, 1e-12)
	assert.Equal(t, 2, tot.Rows)
	assert.Equal(t, 1, tot.Unknown)
	assert.ErrorIs(t, tot.Reason, ErrNoDuration)
}

func TestUSD(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{0: "$0.000", 1.5: "$1.500", 0.044: "$0.044", 0.0035: "$0.0035", 12.34: "$12.340",
		4.4: "$4.400", 0.00004: "$0.00004", 1234.5678: "$1234.5678", 0.1 + 0.2: "$0.300", 0.528: "$0.528", 0.6: "$0.600"} {
		assert.Equal(t, want, USD(in), "%v", in)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  PriceConfig
	}{
		{name: "catalog per output", cfg: PriceConfig{BaseUSD: usd(0.044), Unit: "output"}},
		{name: "per second with default", cfg: PriceConfig{BaseUSD: usd(0.02), Unit: "second", DefaultSeconds: 5}},
		{name: "--price", cfg: PriceConfig{OverrideUSD: 0.05}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, err := NewPricer(tt.cfg).Record()
			require.NoError(t, err)
			p, err := ParseRecord(raw)
			require.NoError(t, err)
			assert.Equal(t, NewPricer(tt.cfg).Describe(), p.Describe())
			want, werr := NewPricer(tt.cfg).Job(row("duration", 4))
			got, gerr := p.Job(row("duration", 4))
			assert.Equal(t, want, got)
			assert.Equal(t, werr, gerr)
		})
	}
	_, err := ParseRecord(`{"base_usd":"x"}`)
	require.Error(t, err)
	raw, err := Pricer{}.Record()
	require.NoError(t, err)
	assert.Empty(t, raw, "nothing to record without a price")
}

func TestCharged(t *testing.T) {
	t.Parallel()
	perSec := NewPricer(PriceConfig{BaseUSD: usd(0.02), Unit: "second", DefaultSeconds: 5})
	got, err := perSec.Charged([]byte(`{"prompt":"a","duration":10}`), 2)
	require.NoError(t, err)
	assert.InDelta(t, 0.4, got, 1e-9, "each charged submit at the row's duration")
	got, err = perSec.Charged([]byte(`{"prompt":"a"}`), 1)
	require.NoError(t, err)
	assert.InDelta(t, 0.1, got, 1e-9, "the schema's default duration")
	got, err = perSec.Charged(nil, 0)
	require.NoError(t, err)
	assert.Zero(t, got, "never sent: nothing charged")
	_, err = Pricer{}.Charged([]byte(`{}`), 1)
	require.ErrorIs(t, err, ErrNoPrice)
}

// TestAbsurdEstimates: a price or a row whose estimate is beyond any real
// job is an error naming the bound, never a number the budget would sum.
func TestAbsurdEstimates(t *testing.T) {
	t.Parallel()
	_, err := NewPricer(PriceConfig{OverrideUSD: 1e13}).Job(nil)
	assert.ErrorIs(t, err, ErrAbsurd)
	_, err = NewPricer(PriceConfig{BaseUSD: usd(1e13), Unit: "output"}).Job(nil)
	assert.ErrorIs(t, err, ErrAbsurd)
	_, err = NewPricer(PriceConfig{BaseUSD: usd(0.02), Unit: "second"}).Job(row("duration", 1e15))
	require.ErrorIs(t, err, ErrAbsurd)
	assert.Contains(t, err.Error(), "$10000.00")
	assert.ErrorIs(t, NewPricer(PriceConfig{BaseUSD: usd(1e13), Unit: "second"}).Check(), ErrAbsurd)
	assert.ErrorIs(t, NewPricer(PriceConfig{OverrideUSD: 2e4}).Check(), ErrAbsurd)
	assert.NoError(t, NewPricer(PriceConfig{BaseUSD: usd(0.02), Unit: "second"}).Check())
	v, err := NewPricer(PriceConfig{BaseUSD: usd(0.02), Unit: "second"}).Job(row("duration", 10))
	require.NoError(t, err)
	assert.InDelta(t, 0.2, v, 1e-12)
}

func TestReported(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cost *float64
		want float64
		ok   bool
	}{{nil, 0, false}, {usd(0), 0, true}, {usd(0.044), 0.044, true}, {usd(1e308), 0, false}, {usd(-1), 0, false}} {
		got, ok := Reported(c.cost)
		assert.Equal(t, c.ok, ok)
		assert.Equal(t, c.want, got)
	}
}

// The plan says how many rows it submits, not which: rows that cost
// differently give a range, rows that cost the same an exact figure.
func TestTallyPlanCost(t *testing.T) {
	t.Parallel()
	perSec := Tally{Pricer: NewPricer(PriceConfig{BaseUSD: usd(0.02), Unit: "second"})}
	for _, d := range []any{5, 10, "x"} {
		require.NoError(t, perSec.Add(row("duration", d)))
	}
	lo, hi := perSec.PlanCost(2)
	assert.InDelta(t, 0.2, lo.USD, 1e-9, "the cheapest row twice")
	assert.InDelta(t, 0.4, hi.USD, 1e-9, "the dearest row twice")
	require.ErrorIs(t, lo.Reason, ErrNoDuration, "a row without a price is said")
	lo, hi = perSec.PlanCost(3)
	assert.Equal(t, lo, hi, "every row submitted: exact")
	assert.Equal(t, 1, lo.Unknown)
	lo, hi = perSec.PlanCost(0)
	assert.Equal(t, Total{}, lo)
	assert.Equal(t, Total{}, hi)

	absurd := Tally{Pricer: NewPricer(PriceConfig{BaseUSD: usd(0.02), Unit: "second"})}
	require.ErrorIs(t, absurd.Add(row("duration", 1e15)), ErrAbsurd)
	lo, hi = absurd.PlanCost(1)
	assert.Zero(t, hi.USD, "an absurd row is not counted")
	assert.Zero(t, lo.Unknown, "nor counted as unknown")
}
