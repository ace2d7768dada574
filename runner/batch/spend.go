package batch

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// prepareCatalog reads the model's catalog entry once, before the first
// submit: its input schema (recorded at first use) and its price, which
// the budget and the balance check use.
func (b *batch) prepareCatalog(ctx context.Context, st *store.Store, tr http.RoundTripper) (*money.Batch, error) {
	acct := b.c.accountClient(tr)
	model, merr := acct.Model(ctx, b.c.Model)
	if err := b.inFolder(func(f *store.Folder) error { return b.settleSchema(ctx, st, f, model, merr) }); err != nil {
		return nil, err
	}
	return b.prepareSpend(ctx, acct, st, model, merr)
}

// catalogReader is the catalog and balance calls the run makes before the
// first submit.
type catalogReader interface {
	Model(ctx context.Context, id string) (api.Model, error)
	Balance(ctx context.Context) (api.Balance, error)
}

// accountClient is the client of the catalog and balance reads before the
// first submit: they inform, so they are retried once, not for minutes. An
// invalid base URL was refused by the run's own client already.
func (c Config) accountClient(tr http.RoundTripper) catalogReader {
	cl, err := api.New(api.Config{BaseURL: c.APIBase, BalanceURL: c.BalanceBase, Token: c.Token,
		HTTPClient: &http.Client{Transport: tr}, Limiter: rate.NewLimiter(catalogRPS, 1), MaxRetries: 1})
	if err != nil {
		return unreadable{err}
	}
	return cl
}

// catalogRPS paces the catalog and balance reads: a handful of calls, kept
// well below any account's limit.
const catalogRPS = 5

// unreadable answers every read with err.
type unreadable struct{ err error }

func (u unreadable) Model(context.Context, string) (api.Model, error) { return api.Model{}, u.err }
func (u unreadable) Balance(context.Context) (api.Balance, error)     { return api.Balance{}, u.err }

// prepareSpend reads the model's price, sets the budget up from the state
// and --max-cost, and checks the balance against the rows left, before
// anything is submitted.
func (b *batch) prepareSpend(ctx context.Context, acct catalogReader, st *store.Store, m api.Model, merr error) (*money.Batch, error) {
	c := b.c
	sp, err := money.Prepare(ctx, st, money.Config{Model: c.Model, Price: money.PriceConfigFor(m, c.PriceUSD), CatalogErr: merr,
		MaxCostUSD: c.MaxCostUSD, NeedsPrice: c.RequireBalance, Logger: b.log})
	if errors.Is(err, money.ErrNeedsPrice) {
		return nil, configf("%v", err)
	}
	if err != nil {
		return nil, err
	}
	if err := b.checkBalance(ctx, acct, st, sp); err != nil {
		return nil, err
	}
	return sp, nil
}

// estimator estimates the cost of jobs without a reported one in the
// results index; nil without a price.
func estimator(sp *money.Batch) results.Estimator {
	if !sp.Priced {
		return nil
	}
	return live.Estimator(sp.Pricer)
}

// checkBalance compares the account's balance with the estimate of the
// rows left. A balance that cannot be read is a warning, never a stop; one
// below the estimate is a warning, or a refusal with --require-balance.
func (b *batch) checkBalance(ctx context.Context, c catalogReader, st *store.Store, s *money.Batch) error {
	if !s.Priced {
		if b.c.RequireBalance {
			b.log.Warn("--require-balance: no price for the model, so the balance is not compared")
		}
		return nil
	}
	bal, err := c.Balance(ctx)
	if err != nil {
		b.log.Warn("balance unknown; not compared with the estimate", "err", err)
		return nil
	}
	if b.balanceCoversWithoutPlan(ctx, st, s.Pricer, bal.USD) {
		return nil
	}
	left, err := b.estimateLeft(ctx, st, s.Pricer)
	if err != nil {
		return err
	}
	if left.USD == 0 {
		return nil
	}
	if bal.USD >= left.USD {
		b.log.Info("balance covers the estimate", "balance_usd", bal.USD, "estimate_usd", money.RoundUSD(left.USD), "rows", left.Rows)
		return nil
	}
	msg := fmt.Sprintf("balance %s is below the estimated cost %s of the %d rows left", money.USD(bal.USD), money.USD(left.USD), left.Rows)
	if b.c.RequireBalance {
		return fmt.Errorf("%s (--require-balance); nothing was sent: %w", msg, api.ErrPaymentRequired)
	}
	b.log.Warn(msg+"; the API refuses submits once it is spent", "balance_usd", bal.USD, "estimate_usd", money.RoundUSD(left.USD))
	return nil
}

// balanceCoversWithoutPlan reports whether the balance is known to pay for
// the rows left without planning them (a second pass over the manifest and
// the state).
func (b *batch) balanceCoversWithoutPlan(ctx context.Context, st *store.Store, p money.Pricer, balUSD float64) bool {
	flat := p.Kind() == money.PerOutput || p.Kind() == money.PerJob
	each, _ := p.Job(nil)
	if flat && balUSD >= each*float64(b.shardRows) {
		// Every row costs the same, and the balance pays for all of them.
		b.log.Debug("balance covers every row", "balance_usd", balUSD, "rows", b.shardRows)
		return true
	}
	// Nor when it pays for the rows whose job will not be sent again left
	// out: a batch resumed near its end (a million rows, most of them
	// done) is counted from the state's briefs in a second, not planned
	// row by row. With nothing left it needs no price per row at all, so a
	// model priced per second of duration (video) takes this way too.
	settled, err := settledJobs(ctx, st, b.c.RetryFailed)
	if err != nil {
		return false
	}
	left := max(0, b.shardRows-settled)
	if left == 0 || flat && balUSD >= each*float64(left) {
		b.log.Debug("balance covers the rows left", "balance_usd", balUSD, "rows", b.shardRows, "settled", settled)
		return true
	}
	return false
}

// settledJobs counts the jobs of the manifest's rows that a run will not
// send again: those with a render on the API or done, and, without
// --retry-failed, those that ended. Orphans (no row of the last manifest
// claims them) are not counted. It is a lower bound of what the plan
// would skip, as the balance check needs, but for a manifest that lost
// rows since the last run read it whole.
func settledJobs(ctx context.Context, st *store.Store, retryFailed bool) (int, error) {
	n := 0
	err := st.ForEachBrief(ctx, func(_ []byte, br store.Brief) bool {
		if !br.Orphan && (br.State.HasRequestID() || (!retryFailed && br.State.IsTerminal())) {
			n++
		}
		return false
	}, func(store.Job) error { return nil })
	return n, err
}

// estimateLeft prices the rows a run would submit: the plan against the
// state, read as a dry run does (the upper end when rows cost differently).
func (b *batch) estimateLeft(ctx context.Context, st *store.Store, p money.Pricer) (money.Total, error) {
	rows, err := b.manifestRows()
	if err != nil {
		return money.Total{}, err
	}
	defer rows.Close()
	priced := &pricedRows{RowSource: shard.Filter(rows, b.spec), Tally: money.Tally{Pricer: p}}
	plan, err := runner.PlanRows(ctx, priced, st, runner.PlanOptions{OutDir: b.c.Out, RetryFailed: b.c.RetryFailed,
		HoldUncertain: b.c.HoldUncertain, MaxResends: b.c.MaxResends})
	if err != nil {
		return money.Total{}, fmt.Errorf("estimate the rows left: %w", err)
	}
	_, hi := priced.PlanCost(plan.Submits)
	return hi, nil
}

// The budgeted API goes where the runner's client went.
var _ runner.API = money.API(nil)
