package money

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/store"
)

// BudgetPricesMetaKey is the state file's meta key holding the prices
// (PriceConfig, a JSON array) runs priced their jobs at: the spend of
// earlier jobs is counted at the highest, so a price that drops between
// runs does not give back budget the jobs already used. The budget itself
// is under account.BudgetMetaKey, so that it holds across runs, also those
// not given --max-cost again.
const BudgetPricesMetaKey = "budget_prices"

// ErrNeedsPrice means a budget was asked for and no job can be priced: it
// could count nothing.
var ErrNeedsPrice = errors.New("--max-cost needs the price of a job")

// MetaStore is the part of the state file a batch's money is recorded
// in. *store.Store implements it.
type MetaStore interface {
	Meta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
}

// Store is the part of the state file Prepare reads and records in.
type Store interface {
	MetaStore
	JobScanner
}

var _ Store = (*store.Store)(nil)

// Config is what the catalog and the flags say about a run's money.
type Config struct {
	// Model names the model in messages.
	Model string
	// Price is the catalog's price of the model, with --price over it.
	Price PriceConfig
	// CatalogErr is why the catalog gave no price; the price recorded in
	// the state file at first use applies then.
	CatalogErr error
	// MaxCostUSD is --max-cost, recorded for the runs after; 0 means the
	// one recorded, if any.
	MaxCostUSD float64
	// NeedsPrice says the run needs a price beyond the budget (to compare
	// the balance): a missing one is a warning, not a note.
	NeedsPrice bool
	// Logger receives the budget's lines; nil discards them.
	Logger *slog.Logger
}

// Batch is a run's money: the price of a job and the budget.
type Batch struct {
	// Pricer prices the run's jobs: the catalog's price or --price, else
	// the one recorded.
	Pricer Pricer
	// Priced says Pricer prices jobs (a catalog price or --price).
	Priced bool
	// Budget is nil without --max-cost (given now or recorded).
	Budget *Budget
	open   *openCharges // jobs counted at their estimate until charged
}

// Prepare reads the run's price and budget from cfg and the state file,
// recording them there for the runs after, before anything is submitted.
func Prepare(ctx context.Context, st Store, cfg Config) (*Batch, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit, err := budgetLimit(ctx, st, cfg.MaxCostUSD, log)
	if err != nil {
		return nil, err
	}
	if cfg.Price.OverrideUSD <= 0 && cfg.CatalogErr != nil {
		if limit > 0 || cfg.NeedsPrice {
			log.Warn("no price for the model from the catalog; set --price USD", "model", cfg.Model, "err", cfg.CatalogErr)
		} else {
			log.Info("no price for the model from the catalog; cost estimates are off", "model", cfg.Model, "err", cfg.CatalogErr)
		}
	}
	b := &Batch{Pricer: NewPricer(cfg.Price)}
	if err := recordPrice(ctx, st, &b.Pricer, cfg.CatalogErr); err != nil {
		return nil, err
	}
	if err := b.Pricer.Check(); err != nil {
		return nil, fmt.Errorf("model %s: %w; nothing was sent", cfg.Model, err)
	}
	probe, perr := b.Pricer.Job(func(string) (any, bool) { return 5, true })
	b.Priced = perr == nil
	if limit <= 0 {
		if b.Priced {
			// Recorded by every priced run: a budget set later counts
			// the jobs sent before it at their price.
			if _, err := budgetPricers(ctx, st, cfg.Price); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	if !b.Priced {
		return nil, fmt.Errorf("%w: %s (%v); set --price USD", ErrNeedsPrice, b.Pricer.Describe(), perr)
	}
	if probe == 0 {
		log.Warn("the price of a job is $0.00: the budget counts only what the API reports once each job ends, "+
			"so the jobs in flight may take the spend past --max-cost; set --price USD", "model", cfg.Model)
	}
	pricers, err := budgetPricers(ctx, st, cfg.Price)
	if err != nil {
		return nil, err
	}
	if err := b.openBudget(ctx, st, limit, pricers, log); err != nil {
		return nil, err
	}
	return b, nil
}

// openBudget sets the budget of limit up, with what the state's jobs
// spent already.
func (b *Batch) openBudget(ctx context.Context, st JobScanner, limit float64, pricers []Pricer, log *slog.Logger) error {
	b.open = &openCharges{jobs: map[string]float64{}}
	spent, unknown, err := spentInState(ctx, st, b.open, pricers...)
	if err != nil {
		return err
	}
	if unknown > 0 {
		log.Warn("jobs of earlier runs whose price is unknown are not counted in the budget", "jobs", unknown)
	}
	if b.Budget, err = NewBudget(limit, spent); err != nil {
		return err
	}
	f := b.Budget.Figures()
	log.Info("budget", "max_cost_usd", f.LimitUSD, "spent_usd", RoundUSD(f.SpentUSD), "left_usd", RoundUSD(f.LeftUSD))
	return nil
}

// recordPrice records the price of a job in the state file at first use
// (PriceMetaKey), as the input schema is, so that status and export
// estimate the jobs the API reported no cost for with no catalog at hand;
// a --price given later is recorded over it, as the run's summary uses
// it. A catalog that cannot answer now leaves p as the one recorded.
func recordPrice(ctx context.Context, st MetaStore, p *Pricer, catalogErr error) error {
	raw, err := st.Meta(ctx, PriceMetaKey)
	if err != nil {
		return err
	}
	if catalogErr != nil && p.Kind() != PerJob && raw != "" {
		if *p, err = ParseRecord(raw); err != nil {
			return fmt.Errorf("state file: %w", err)
		}
		return nil
	}
	rec, err := p.Record()
	if err != nil || rec == "" || rec == raw || (raw != "" && p.Kind() != PerJob) {
		return err
	}
	return st.SetMeta(ctx, PriceMetaKey, rec)
}

// budgetLimit is --max-cost (flagUSD), recorded in the state for the runs
// after; or, without the flag, the one recorded.
func budgetLimit(ctx context.Context, st MetaStore, flagUSD float64, log *slog.Logger) (float64, error) {
	if flagUSD > 0 {
		if err := st.SetMeta(ctx, account.BudgetMetaKey, strconv.FormatFloat(flagUSD, 'f', -1, 64)); err != nil {
			return 0, err
		}
		return flagUSD, nil
	}
	v, err := RecordedLimit(ctx, st)
	if v > 0 {
		log.Info("budget recorded in the state file applies", "max_cost_usd", v)
	}
	return v, err
}

// RecordedLimit is the budget recorded in the state file (0: none), as a
// run without --max-cost and a dry run take it.
func RecordedLimit(ctx context.Context, st MetaStore) (float64, error) {
	raw, err := st.Meta(ctx, account.BudgetMetaKey)
	if err != nil || raw == "" {
		return 0, err
	}
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || !(v >= 0) {
		return 0, fmt.Errorf("state file: %s %q is not a number of dollars", account.BudgetMetaKey, raw)
	}
	return v, nil
}

// budgetPricers records this run's price among the budget's (before the
// first submit, so that a run killed later has it recorded) and returns a
// pricer for each price recorded, this run's first.
func budgetPricers(ctx context.Context, st MetaStore, now PriceConfig) ([]Pricer, error) {
	var cfgs []PriceConfig
	if raw, err := st.Meta(ctx, BudgetPricesMetaKey); err != nil {
		return nil, err
	} else if raw != "" {
		if err := json.Unmarshal([]byte(raw), &cfgs); err != nil {
			return nil, fmt.Errorf("state file: %s does not decode: %w", BudgetPricesMetaKey, err)
		}
	}
	pricers := []Pricer{NewPricer(now)}
	known := false
	for _, c := range cfgs {
		known = known || reflect.DeepEqual(c, now)
		pricers = append(pricers, NewPricer(c))
	}
	if !known {
		raw, err := json.Marshal(append(cfgs, now))
		if err != nil {
			return nil, err
		}
		if err := st.SetMeta(ctx, BudgetPricesMetaKey, string(raw)); err != nil {
			return nil, err
		}
	}
	return pricers, nil
}

// API is next, behind the budget when there is one.
func (b *Batch) API(next API) API {
	if b.Budget == nil {
		return next
	}
	return budgetedAPI{API: next, budget: b.Budget, pricer: b.Pricer, open: b.open}
}

// Recorded is the price status and export estimate with while this run
// holds the state file; nil without one.
func (b *Batch) Recorded() *Pricer {
	if !b.Priced {
		return nil
	}
	p := b.Pricer
	return &p
}

// LimitUSD is the batch's budget (0: none).
func (b *Batch) LimitUSD() account.USD {
	if b.Budget == nil {
		return 0
	}
	return account.Dollars(b.Budget.Figures().LimitUSD)
}
