package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Config configures a benchmark session. Zero values take the defaults.
type Config struct {
	// Exe is the pikabatch binary under test. Scenarios run it as a child
	// process, so its peak RSS and CPU are measured apart from the
	// simulator's. Required.
	Exe string
	// Dir holds the manifests, output folders and state files. Default: a
	// new temporary folder, removed at the end.
	Dir string
	// Runs is how many times each scenario runs; every figure is the median
	// over the runs. Default 3.
	Runs int
	// Scale multiplies every scenario's row count; 1 (the default) is the
	// size its targets were set for. A smoke run uses a small fraction.
	Scale float64
	// TimeScale multiplies the simulated job durations; 1 (the default) is
	// the durations the targets were set for. Targets scale with it.
	TimeScale float64
	// Only names the scenarios to run (see Scenarios); empty runs them all.
	Only []string
	// Progress receives one line per run as it ends; nil discards them.
	Progress io.Writer
	// ProfileDir, if set, receives a CPU profile and an exit heap profile
	// of every pikabatch process a scenario starts, simulators aside,
	// named after the command and numbered in start order
	// (run-1.cpu.pprof, run-1.heap.pprof, status-2.cpu.pprof, …).
	ProfileDir string
}

// ErrUnknownScenario is returned by Run for a name in Config.Only that is
// not a scenario.
var ErrUnknownScenario = errors.New("unknown scenario")

// Result is what one scenario measured.
type Result struct {
	Scenario string   `json:"scenario"`
	Setup    string   `json:"setup"` // the scenario's parameters, as a reader needs them
	Figures  []Figure `json:"figures"`
}

// Figure is one measured quantity: the median over the runs and every run's
// value.
type Figure struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit,omitempty"`
	Median float64   `json:"median"`
	Runs   []float64 `json:"runs"`
	Target *Target   `json:"target,omitempty"`
}

// Target is the bound a figure should stay within.
type Target struct {
	// AtMost is true for an upper bound (Median ≤ Limit), false for a lower
	// bound (Median ≥ Limit).
	AtMost bool    `json:"at_most"`
	Limit  float64 `json:"limit"`
	// ReportOnly marks a target that is reported, not required to be met.
	ReportOnly bool `json:"report_only,omitempty"`
}

// Met reports whether v is within the target.
func (t Target) Met(v float64) bool {
	if t.AtMost {
		return v <= t.Limit
	}
	return v >= t.Limit
}

// String is the target as a table shows it, such as "≤ 150".
func (t Target) String() string {
	op := "≥"
	if t.AtMost {
		op = "≤"
	}
	s := op + " " + formatValue(t.Limit)
	if t.ReportOnly {
		s += " (report)"
	}
	return s
}

// Met reports whether the figure has a target and its median meets it.
func (f Figure) Met() bool { return f.Target == nil || f.Target.Met(f.Median) }

// Run runs the configured scenarios and returns their results in the order
// of Scenarios. A scenario that fails (the child exits with an error, a
// job is not done) stops the session with an error naming it.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if cfg.Exe == "" {
		return nil, errors.New("bench: the pikabatch binary is required")
	}
	if cfg.Runs <= 0 {
		cfg.Runs = 3
	}
	if cfg.Scale <= 0 {
		cfg.Scale = 1
	}
	if cfg.TimeScale <= 0 {
		cfg.TimeScale = 1
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	all := scenarios()
	chosen := all
	if len(cfg.Only) > 0 {
		chosen = nil
		for _, name := range cfg.Only {
			i := slices.IndexFunc(all, func(s scenario) bool { return s.name == name })
			if i < 0 {
				return nil, fmt.Errorf("bench: %w %q (have %s)", ErrUnknownScenario, name, strings.Join(Scenarios(), ", "))
			}
			chosen = append(chosen, all[i])
		}
	}
	dir := cfg.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "pikabatch-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	s := &session{cfg: cfg, dir: dir}
	var results []Result
	for _, sc := range chosen {
		res, err := s.run(ctx, sc)
		if err != nil {
			return results, fmt.Errorf("bench %s: %w", sc.name, err)
		}
		results = append(results, res)
	}
	return results, nil
}

// Scenarios lists the scenario names in the order Run runs them.
func Scenarios() []string {
	var names []string
	for _, s := range scenarios() {
		names = append(names, s.name)
	}
	return names
}

// scenario is one measurement. prepare, if set, runs once before the runs
// (writing a large manifest, say); run measures once and returns a value for
// every figure named in figures.
type scenario struct {
	name    string
	rows    int // rows at Scale 1
	least   int // rows at any scale
	setup   func(p params) string
	figures func(p params) []Figure // names, units and targets; values are filled in
	prepare func(ctx context.Context, s *session, p params) error
	run     func(ctx context.Context, s *session, p params, i int) (map[string]float64, error)
}

func (sc scenario) rowsFor(s *session) int { return s.scaled(sc.rows, sc.least) }

// session is one Run: its settings and scratch folder.
type session struct {
	cfg      Config
	dir      string
	children atomic.Int64 // pikabatch processes started, for profile names
}

// params are a scenario's sizes after scaling.
type params struct {
	rows      int
	timeScale float64
	dir       string // the scenario's own folder
}

// scaled returns n scaled by the session's Scale, at least least.
func (s *session) scaled(n, least int) int {
	return max(least, int(math.Round(float64(n)*s.cfg.Scale)))
}

// dur scales a simulated duration by TimeScale.
func (p params) dur(d time.Duration) time.Duration {
	return time.Duration(float64(d) * p.timeScale)
}

func (s *session) run(ctx context.Context, sc scenario) (Result, error) {
	p := params{timeScale: s.cfg.TimeScale, dir: s.dir + string(os.PathSeparator) + sc.name}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return Result{}, err
	}
	p.rows = sc.rowsFor(s)
	figs := sc.figures(p)
	if sc.prepare != nil {
		if err := sc.prepare(ctx, s, p); err != nil {
			return Result{}, fmt.Errorf("prepare: %w", err)
		}
	}
	for i := range s.cfg.Runs {
		settle() // the previous run's writes and removals are not this run's cost
		got, err := sc.run(ctx, s, p, i)
		if err != nil {
			return Result{}, fmt.Errorf("run %d: %w", i+1, err)
		}
		var line strings.Builder
		fmt.Fprintf(&line, "%s run %d/%d:", sc.name, i+1, s.cfg.Runs)
		for j := range figs {
			v, ok := got[figs[j].Name]
			if !ok {
				return Result{}, fmt.Errorf("run %d: no figure %q", i+1, figs[j].Name)
			}
			figs[j].Runs = append(figs[j].Runs, v)
			fmt.Fprintf(&line, " %s=%s", figs[j].Name, formatValue(v))
		}
		fmt.Fprintln(s.cfg.Progress, line.String())
	}
	// The runs' output folders (1.3 GB each for overhead) go only now:
	// removing one between runs had the next run compete with the file
	// system freeing and discarding its blocks, which made consecutive
	// runs up to 40% slower on this project's VM.
	if err := removeRunDirs(p.dir); err != nil {
		return Result{}, err
	}
	for j := range figs {
		figs[j].Median = median(figs[j].Runs)
	}
	return Result{Scenario: sc.name, Setup: sc.setup(p), Figures: figs}, nil
}

// median of vs; the mean of the middle two for an even count.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// quantile returns the q-quantile (0..1) of sorted vs, nearest rank.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// formatValue prints a figure with as many digits as it deserves.
func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "n/a"
	case a == 0 || a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// WriteText prints results for a terminal: one block per scenario, each
// figure with its median, runs and target.
func WriteText(w io.Writer, results []Result) {
	for _, r := range results {
		fmt.Fprintf(w, "%s: %s\n", r.Scenario, r.Setup)
		for _, f := range r.Figures {
			runs := make([]string, len(f.Runs))
			for i, v := range f.Runs {
				runs[i] = formatValue(v)
			}
			verdict := ""
			if f.Target != nil {
				verdict = "  target " + f.Target.String()
				switch {
				case f.Met():
					verdict += "  ok"
				case f.Target.ReportOnly:
					verdict += "  (not met)"
				default:
					verdict += "  MISSED"
				}
			}
			fmt.Fprintf(w, "  %-22s %10s %-6s runs [%s]%s\n", f.Name, formatValue(f.Median), f.Unit, strings.Join(runs, " "), verdict)
		}
	}
}

// WriteMarkdown prints results as the README's table.
func WriteMarkdown(w io.Writer, results []Result) {
	fmt.Fprintln(w, "| scenario | figure | median | target | runs |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range results {
		for i, f := range r.Figures {
			name := ""
			if i == 0 {
				name = "**" + r.Scenario + "**"
			}
			target, runs := "", make([]string, len(f.Runs))
			if f.Target != nil {
				target = f.Target.String()
				if !f.Met() && !f.Target.ReportOnly {
					target += " **missed**"
				}
			}
			for i, v := range f.Runs {
				runs[i] = formatValue(v)
			}
			fmt.Fprintf(w, "| %s | %s | %s %s | %s | %s |\n", name, f.Name, formatValue(f.Median), f.Unit, target, strings.Join(runs, ", "))
		}
	}
}

// removeRunDirs removes the run-N output folders under dir.
func removeRunDirs(dir string) error {
	runs, err := filepath.Glob(filepath.Join(dir, "run-*"))
	if err != nil {
		return err
	}
	for _, r := range runs {
		if err := os.RemoveAll(r); err != nil {
			return err
		}
	}
	return nil
}
