package account

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/store"
)

func TestUSDPrintsOneWay(t *testing.T) {
	for _, tt := range []struct {
		usd  float64
		want string
	}{
		{0.528, "$0.528"}, {0.6, "$0.600"}, {0.22, "$0.220"}, {0, "$0.000"}, {12, "$12.000"},
		{0.0088, "$0.0088"}, {1.452, "$1.452"}, {0.000001, "$0.000001"}, {-0.5, "-$0.500"},
	} {
		assert.Equal(t, tt.want, Format(tt.usd), tt.usd)
	}
}

func TestUSDJSONIsARoundedDecimal(t *testing.T) {
	var sum USD
	for range 11 {
		sum += Dollars(0.04) // as floats: 0.44000000000000006
	}
	b, err := json.Marshal(struct {
		A, B, C USD
	}{sum, Dollars(1e-7), Dollars(2)})
	require.NoError(t, err)
	assert.JSONEq(t, `{"A":0.44,"B":0,"C":2}`, string(b))
	assert.Equal(t, `{"A":0.44,"B":0,"C":2}`, string(b))
	var back struct{ A USD }
	require.NoError(t, json.Unmarshal([]byte(`{"A":0.4399999999999999}`), &back))
	assert.Equal(t, Dollars(0.44), back.A)
}

func TestUSDSaturates(t *testing.T) {
	assert.Positive(t, Dollars(1e300))
	assert.Negative(t, Dollars(-1e300))
	assert.Equal(t, Dollars(1e300), Dollars(1e301), "both saturate at one bound")
}

func TestLedgerPlacesEveryRowOnce(t *testing.T) {
	by := map[store.State]int{}
	for i, st := range store.AllStates() {
		by[st] = i + 1
	}
	l := Of(200, by)
	assert.Equal(t, 200, l.Rows)
	assert.Equal(t, l.Rows, l.Counted())
	assert.Equal(t, by[store.StateCancelled], l.Cancelled)
	assert.Equal(t, by[store.StateFailed]+by[store.StateTimedOut]+by[store.StateExpired], l.Failed)
	assert.Equal(t, by[store.StateUncertain]+by[store.StateSubmitting], l.Held)

	// More states than rows (the manifest lost rows): every one counted.
	small := Of(3, map[store.State]int{store.StateDone: 5})
	assert.Equal(t, Ledger{Rows: 5, Done: 5}, small)
}

func TestWholeManifestCountsUnreadRows(t *testing.T) {
	f := Figures{Rows: 16, Final: map[store.State]int{store.StateDone: 8, store.StateFailed: 1, store.StateSubmitted: 7}}
	f.Account.Spend.ReportedUSD = Dollars(0.352)
	f.WholeManifest(40)
	assert.Equal(t, 40, f.Rows)
	assert.Equal(t, 24, f.NotSubmitted)
	sum := 0
	for _, n := range f.Final {
		sum += n
	}
	assert.Equal(t, 40, sum, "final sums to the manifest's rows")
	assert.Equal(t, Ledger{Rows: 40, Done: 8, Failed: 1, InFlight: 7, NotSubmitted: 24,
		Spend: Spend{ReportedUSD: Dollars(0.352)}}, f.Account)
}

func TestLedgerPrintsOneVocabulary(t *testing.T) {
	l := Ledger{Rows: 40, Done: 8, Failed: 1, InFlight: 7, NotSubmitted: 24,
		Spend: Spend{ReportedUSD: Dollars(0.352), ReportedJobs: 8, EstimatedUSD: Dollars(0.308), EstimatedJobs: 7}}
	l.Spend.SetBudget(Dollars(1))
	assert.Equal(t, "rows 40: 8 done, 1 failed, 0 cancelled, 7 in flight, 0 held, 24 not submitted", l.String())
	assert.Equal(t, "spent $0.660: $0.352 reported by the API for 8 jobs, $0.308 estimated for 7 jobs; budget $1.000, $0.340 left",
		l.Spend.String())
	assert.Empty(t, Spend{}.String())
}
