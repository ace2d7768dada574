package sim

import (
	"fmt"
	"io"

	ledger "github.com/pikabatch/pikabatch/runner/account"
)

// WriteBanner tells the person who started a standalone simulator where
// it listens, its counters and request IDs, how to top up a limited
// balance and, when madeUpToken, the token it made up: printing that one
// is the point, as nobody else knows it.
func (r *Running) WriteBanner(w io.Writer, madeUpToken bool) {
	fmt.Fprintf(w, "simulated Model API on %s (result files on %s)\n", r.APIURL, r.FilesURL)
	fmt.Fprintf(w, "counters: %s/_sim/counters\n", r.APIURL)
	fmt.Fprintf(w, "request IDs start with %s-%s\n", r.IDPrefix()[:8], r.IDPrefix()[8:])
	if r.cfg.BalanceJobs > 0 {
		fmt.Fprintf(w, "balance: %d jobs; top up with: curl -d '{\"add_jobs\": 10}' %s/_sim/balance\n", r.cfg.BalanceJobs, r.APIURL)
	}
	if r.cfg.BalanceUSD > 0 {
		fmt.Fprintf(w, "balance: %s; top up with: curl -d '{\"add_usd\": 1}' %s/_sim/balance\n", ledger.Format(r.cfg.BalanceUSD), r.APIURL)
	}
	if madeUpToken {
		fmt.Fprintf(w, "token: %s\n", r.Token())
	}
}
