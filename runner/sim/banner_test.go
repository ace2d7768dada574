package sim_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// TestBannerSaysWhereAndHow: the banner names both listeners, the
// counters, the request IDs' start and how to top up a limited balance;
// the token only when the simulator made it up.
func TestBannerSaysWhereAndHow(t *testing.T) {
	t.Parallel()
	r, err := sim.Start(sim.Config{Token: "given", BalanceUSD: 2.5, IDPrefix: "0123456789ab"}, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	var b bytes.Buffer
	r.WriteBanner(&b, false)
	want := "simulated Model API on " + r.APIURL + " (result files on " + r.FilesURL + ")\n" +
		"counters: " + r.APIURL + "/_sim/counters\n" +
		"request IDs start with 01234567-89ab\n" +
		"balance: $2.500; top up with: curl -d '{\"add_usd\": 1}' " + r.APIURL + "/_sim/balance\n"
	assert.Equal(t, want, b.String())
	assert.NotContains(t, b.String(), "given")

	b.Reset()
	r.WriteBanner(&b, true)
	assert.Contains(t, b.String(), "token: given\n")
}
