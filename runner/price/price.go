// Package price estimates what a batch costs from the catalog's price of a
// model: base_price_usd applied per output, or per second of output when the
// price unit says so. It never guesses: a unit it does not know, a missing
// price or a per-second row without a duration is an unknown cost, with the
// reason.
package price

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pikabatch/pikabatch/runner/account"
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
)

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

// Config is what the catalog and the flags say about a model's price.
type Config struct {
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
	cfg  Config
	kind Kind
}

// New returns the Pricer of cfg.
func New(cfg Config) Pricer {
	p := Pricer{cfg: cfg, kind: ParseUnit(cfg.Unit)}
	if cfg.OverrideUSD > 0 {
		p.kind = PerJob
	}
	return p
}

// Kind returns how the price applies.
func (p Pricer) Kind() Kind { return p.kind }

// Job returns one job's estimated cost in dollars. field looks up a field
// of the row's input (its value as the manifest gave it: a number, or a
// string holding one).
func (p Pricer) Job(field func(name string) (any, bool)) (float64, error) {
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
		return base * secs, nil
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
	t.USD += usd
	t.Rows++
}

// USD formats dollars for people, as every amount pikabatch prints is
// (account.USD): three decimals, more for a smaller amount ($1.500,
// $0.044, $0.0035).
func USD(v float64) string { return account.Format(v) }

// MetaKey is the state file's meta key under which a batch records its
// price at first use (Record), so that status and export estimate the
// jobs without a reported cost with no catalog at hand.
const MetaKey = "price"

// record is the recorded form of a Config: a few dozen bytes per state
// file, never per job. It has Config's fields, so each converts to the
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
	return New(Config(r)), nil
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
