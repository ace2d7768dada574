package money

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
)

// Reasons a job's cost is unknown. Test with errors.Is.
var (
	// ErrUnknownUnit means the catalog's price_unit is not one this
	// package knows; the cost is not guessed.
	ErrUnknownUnit = errors.New("unknown unit")
	// ErrNoPrice means the catalog gave no base_price_usd and no --price
	// was set.
	ErrNoPrice = errors.New("no price")
	// ErrNoDuration means the model is priced per second and the row has
	// no duration (and the schema no default).
	ErrNoDuration = errors.New("no duration")
	// ErrAbsurd means a price or a job's estimate is above MaxJobUSD: no
	// real render costs that, and sums of such figures overflow the
	// budget's count.
	ErrAbsurd = errors.New("absurd price")
)

// MaxJobUSD is the most one job may be estimated at, and the most a base
// price (per output or per second) may be. The dearest video models cost a
// few dollars a job; ten thousand is far above any of them and far below
// what the budget's micro-dollar count can sum.
const MaxJobUSD = api.MaxCostUSD

// Kind is how a base price applies to a job.
type Kind int

const (
	// Unknown is a price unit this package does not know.
	Unknown Kind = iota
	// PerOutput charges the base price once per job (one output each).
	PerOutput
	// PerSecond charges the base price per second of output (the row's
	// duration).
	PerSecond
	// PerJob is a --price override: a fixed price per job.
	PerJob
)

// ParseUnit reads a catalog price_unit: the bare words RunComfy's clients
// see ("output", "second") and the forms people write ("$0.044/output",
// "per second", "/sec").
func ParseUnit(unit string) Kind {
	u := strings.ToLower(strings.TrimSpace(unit))
	if i := strings.LastIndex(u, "/"); i >= 0 {
		u = u[i+1:]
	}
	u = strings.TrimSpace(strings.TrimPrefix(u, "per "))
	switch u {
	case "output", "outputs", "job", "jobs", "request", "requests", "generation", "image", "images", "video", "videos", "run":
		return PerOutput
	case "second", "seconds", "sec", "secs", "s":
		return PerSecond
	}
	return Unknown
}

// PriceConfig is what the catalog and the flags say about a model's price.
type PriceConfig struct {
	// BaseUSD is the catalog's base_price_usd; nil when it gave none.
	BaseUSD *float64
	// Unit is the catalog's price_unit.
	Unit string
	// OverrideUSD, when positive, is the price of every job (--price): it
	// wins over the catalog.
	OverrideUSD float64
	// DefaultSeconds is the duration a per-second row without one is
	// priced at: the schema's default for "duration". Zero means none.
	DefaultSeconds float64
}

// Pricer prices jobs. The zero value prices nothing (ErrNoPrice).
type Pricer struct {
	cfg  PriceConfig
	kind Kind
}

// NewPricer returns the Pricer of cfg.
func NewPricer(cfg PriceConfig) Pricer {
	p := Pricer{cfg: cfg, kind: ParseUnit(cfg.Unit)}
	if cfg.OverrideUSD > 0 {
		p.kind = PerJob
	}
	return p
}

// Check refuses a price no real job has: a base price or --price above
// MaxJobUSD (a per-second price that high is absurd at any duration).
func (p Pricer) Check() error {
	if v := p.cfg.OverrideUSD; p.kind == PerJob && !(v <= MaxJobUSD) {
		return absurd("--price", v)
	}
	if b := p.cfg.BaseUSD; b != nil && p.kind != PerJob && !(*b <= MaxJobUSD) {
		return absurd("the catalog's base price", *b)
	}
	return nil
}

// absurd is the error of a figure above MaxJobUSD.
func absurd(what string, v float64) error {
	amount := USD(v)
	if !(v < 1e9) {
		amount = fmt.Sprintf("$%.3g", v) // not three hundred digits
	}
	return fmt.Errorf("%w: %s %s is above %s, more than any job costs", ErrAbsurd, what, amount, USD(MaxJobUSD))
}

// Kind returns how the price applies.
func (p Pricer) Kind() Kind { return p.kind }

// Job returns one job's estimated cost in dollars. field looks up a field
// of the row's input (its value as the manifest gave it: a number, or a
// string holding one).
func (p Pricer) Job(field func(name string) (any, bool)) (float64, error) {
	usd, err := p.job(field)
	if err == nil && !(usd <= MaxJobUSD) {
		return 0, absurd("the estimate of one job", usd)
	}
	return usd, err
}

func (p Pricer) job(field func(name string) (any, bool)) (float64, error) {
	if p.kind == PerJob {
		return p.cfg.OverrideUSD, nil
	}
	if p.cfg.BaseUSD == nil {
		return 0, ErrNoPrice
	}
	base := *p.cfg.BaseUSD
	switch p.kind {
	case PerOutput:
		return base, nil
	case PerSecond:
		secs := p.cfg.DefaultSeconds
		if field != nil {
			if v, ok := field("duration"); ok {
				n, ok := seconds(v)
				if !ok {
					return 0, fmt.Errorf("%w: duration %v is not a number of seconds", ErrNoDuration, v)
				}
				secs = n
			}
		}
		if secs <= 0 {
			return 0, ErrNoDuration
		}
		// Rounded to the micro-dollar: 0.0088 x 5 in binary is a hair
		// above $0.044, and a budget of exactly three such jobs would
		// refuse the third.
		return math.Round(base*secs*1e6) / 1e6, nil
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownUnit, p.cfg.Unit)
}

// seconds reads a duration value: a number, or a string holding one ("5",
// "5s").
func seconds(v any) (float64, bool) {
	var n float64
	switch x := v.(type) {
	case int:
		n = float64(x)
	case int64:
		n = float64(x)
	case float64:
		n = x
	case interface{ Float64() (float64, error) }: // json.Number
		f, err := x.Float64()
		if err != nil {
			return 0, false
		}
		n = f
	case string:
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(x), "s"), 64)
		if err != nil {
			return 0, false
		}
		n = f
	default:
		return 0, false
	}
	if n <= 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, false
	}
	return n, true
}

// Reported is a cost the API reported for one job (a state file's
// CostUSD), as a figure to sum: absent, below zero, not finite or above
// MaxJobUSD, it is no figure (ok false) and the job counts as one without
// a reported cost. A state written before costs were bounded may hold
// 1e308, whose sums are infinite.
func Reported(cost *float64) (usd float64, ok bool) {
	if cost == nil || !(*cost >= 0 && *cost <= MaxJobUSD) {
		return 0, false
	}
	return *cost, true
}

// Describe says what the estimate is based on: "base $0.044/output",
// "base $0.020/second", "--price $0.050/job", or "no price".
func (p Pricer) Describe() string {
	switch {
	case p.kind == PerJob:
		return "--price " + USD(p.cfg.OverrideUSD) + "/job"
	case p.cfg.BaseUSD == nil:
		return "no price"
	case p.kind == Unknown:
		return fmt.Sprintf("base %s, unknown unit %q", USD(*p.cfg.BaseUSD), p.cfg.Unit)
	case p.kind == PerSecond:
		return "base " + USD(*p.cfg.BaseUSD) + "/second"
	}
	return "base " + USD(*p.cfg.BaseUSD) + "/output"
}

// Total sums the estimates of a batch.
type Total struct {
	USD     float64 // sum of the known estimates
	Rows    int     // rows priced
	Unknown int     // rows whose cost is unknown
	Reason  error   // why, for the first unknown row
}

// Add prices one row and adds it.
func (t *Total) Add(p Pricer, field func(name string) (any, bool)) {
	usd, err := p.Job(field)
	if err != nil {
		t.Unknown++
		if t.Reason == nil {
			t.Reason = err
		}
		return
	}
	// Kept to the micro-dollar, as each job is: a sum of floats carries
	// binary noise into the JSON.
	t.USD = math.Round((t.USD+usd)*1e6) / 1e6
	t.Rows++
}

// USD formats dollars for people, as every amount pikabatch prints is
// (account.USD): three decimals, more for a smaller amount ($1.500,
// $0.044, $0.0035).
func USD(v float64) string { return account.Format(v) }

// PriceMetaKey is the state file's meta key under which a batch records its
// price at first use (Record), so that status and export estimate the
// jobs without a reported cost with no catalog at hand.
const PriceMetaKey = "price"

// record is the recorded form of a PriceConfig: a few dozen bytes per state
// file, never per job. It has PriceConfig's fields, so each converts to the
// other.
type record struct {
	BaseUSD        *float64 `json:"base_usd,omitempty"`
	Unit           string   `json:"unit,omitempty"`
	OverrideUSD    float64  `json:"override_usd,omitempty"`
	DefaultSeconds float64  `json:"default_seconds,omitempty"`
}

// Record returns what p prices with, for the state file; empty when p
// prices nothing (no price from the catalog, no --price).
func (p Pricer) Record() (string, error) {
	if p.cfg.BaseUSD == nil && p.cfg.OverrideUSD <= 0 {
		return "", nil
	}
	b, err := json.Marshal(record{BaseUSD: p.cfg.BaseUSD, Unit: p.cfg.Unit, OverrideUSD: p.cfg.OverrideUSD,
		DefaultSeconds: p.cfg.DefaultSeconds})
	return string(b), err
}

// ParseRecord reads what Record wrote.
func ParseRecord(raw string) (Pricer, error) {
	var r record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Pricer{}, fmt.Errorf("recorded price %q: %w", raw, err)
	}
	return NewPricer(PriceConfig(r)), nil
}

// Charged is the estimated cost of a job that was sent attempts times
// (re-sends of uncertain submits may each be charged) with the submit
// body input: a job never sent cost nothing.
func (p Pricer) Charged(input []byte, attempts int) (float64, error) {
	if attempts <= 0 {
		return 0, nil
	}
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber()
	_ = dec.Decode(&fields) // no fields: priced as the schema's defaults
	usd, err := p.Job(func(name string) (any, bool) {
		v, ok := fields[name]
		return v, ok && v != nil
	})
	if err != nil {
		return 0, err
	}
	return usd * float64(attempts), nil
}

// Tally prices the rows a plan reads, for the estimate of the ones it
// submits. The zero value with a Pricer set is ready.
type Tally struct {
	Pricer    Pricer
	all       Total
	minUSD    float64
	maxUSD    float64
	anyPriced bool
}

// Add prices one row (field looks its input up) and counts it. A row
// priced above MaxJobUSD is not counted and its error returned: no budget
// can count it and no balance pays it.
func (t *Tally) Add(field func(name string) (any, bool)) error {
	usd, err := t.Pricer.Job(field)
	if errors.Is(err, ErrAbsurd) {
		return err
	}
	t.all.Add(t.Pricer, field)
	if err == nil {
		if !t.anyPriced || usd < t.minUSD {
			t.minUSD = usd
		}
		t.maxUSD = max(t.maxUSD, usd)
		t.anyPriced = true
	}
	return nil
}

// PlanCost is the estimate of the rows a plan would submit: exact when
// every row is submitted or all rows cost the same, else the range between
// the cheapest and the dearest row (the plan does not say which rows).
func (t *Tally) PlanCost(submits int) (lo, hi Total) {
	switch {
	case submits == 0:
		return Total{}, Total{}
	case submits == t.all.Rows+t.all.Unknown:
		return t.all, t.all
	case t.all.Unknown > 0 && !t.anyPriced:
		u := Total{Unknown: submits, Reason: t.all.Reason}
		return u, u
	}
	lo = Total{USD: t.minUSD * float64(submits), Rows: submits}
	hi = Total{USD: t.maxUSD * float64(submits), Rows: submits}
	if t.all.Unknown > 0 {
		// Some rows have no price: the low end leaves them out.
		lo.Reason, hi.Reason = t.all.Reason, t.all.Reason
	}
	return lo, hi
}
