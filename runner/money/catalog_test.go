package money

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pikabatch/pikabatch/runner/api"
)

func TestListPrice(t *testing.T) {
	t.Parallel()
	base := 0.044
	assert.Equal(t, "$0.044/output", ListPrice(api.Model{BasePriceUSD: &base, PriceUnit: "output"}))
	assert.Equal(t, "$0.044", ListPrice(api.Model{BasePriceUSD: &base}))
	assert.Equal(t, "-", ListPrice(api.Model{}))
}

// TestCostLinePerSecond: a per-second price takes a row without a
// duration at the schema's default, and the line says the basis.
func TestCostLinePerSecond(t *testing.T) {
	t.Parallel()
	base := 0.02
	m := api.Model{BasePriceUSD: &base, PriceUnit: "second",
		InputSchema: json.RawMessage(`{"properties":{"duration":{"type":"integer","default":5}}}`)}
	p := PricerFor(m, 0)
	var tot Total
	for _, d := range []int{8, 10, 0} {
		tot.Add(p, func(n string) (any, bool) {
			if n == "duration" && d > 0 {
				return d, true
			}
			return nil, false
		})
	}
	assert.Equal(t, "estimated cost: $0.460 for 3 rows (base $0.020/second)", CostLine(tot, p))

	var none Total
	none.Add(PricerFor(api.Model{}, 0), func(string) (any, bool) { return nil, false })
	assert.Contains(t, CostLine(none, PricerFor(api.Model{}, 0)), "estimated cost: unknown for 1 row (")
}
