package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// CommandConfig is what the `bench` command borrows from the binary it
// is part of: where it prints, and the binary's own conventions for
// arguments, usage errors, JSON and shell completion.
type CommandConfig struct {
	Stdout, Stderr io.Writer
	Args           cobra.PositionalArgs
	// Usage marks err as a mistake in the command line.
	Usage func(err error) error
	// WriteJSON prints the results as the binary's --json answer.
	WriteJSON func(w io.Writer, results []Result) error
	// Complete offers words for a flag's value.
	Complete func(c *cobra.Command, flag string, words ...string)
}

// commandOptions are bench's flags.
type commandOptions struct {
	cfg             Config
	only            string // --scenario, comma-separated
	asJSON, asTable bool   // --json, --markdown
	quiet           bool
}

// NewCommand is the `bench` command: the harness measuring the binary it
// is built into, so that its wiring lives with it.
func NewCommand(cc CommandConfig) *cobra.Command {
	var o commandOptions
	c := &cobra.Command{
		Use:   "bench [--scenario NAMES] [--runs N]",
		Short: "Measure this binary against the simulator",
		Long: `Measure this binary against the simulator: each scenario's figures with
their targets. The tables in cmd/pikabatch/internal/bench/README.md are its
--markdown output.`,
		Example: `  pikabatch bench --scenario overhead,slots --runs 1
  pikabatch bench --markdown`,
		Args: cc.Args,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCommand(c.Context(), cc, o)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.only, "scenario", "", "comma-separated `names` to run (default all): "+strings.Join(Scenarios(), ", "))
	fs.IntVar(&o.cfg.Runs, "runs", 3, "runs per scenario; figures are medians")
	fs.Float64Var(&o.cfg.Scale, "scale", 1, "multiply every scenario's row count (1 = each scenario's own size, as in the bench's README)")
	fs.Float64Var(&o.cfg.TimeScale, "time-scale", 1, "multiply the simulated job durations")
	fs.StringVar(&o.cfg.Dir, "dir", "", "scratch `folder` (default a temporary one, removed afterwards)")
	fs.StringVar(&o.cfg.ProfileDir, "profile", "", "write CPU and heap profiles of every pikabatch process started into `folder`")
	fs.StringVar(&o.cfg.Exe, "exe", "", "pikabatch `binary` to measure (default this one)")
	fs.BoolVar(&o.asJSON, "json", false, "print the results as JSON")
	fs.BoolVar(&o.asTable, "markdown", false, "print the results as a Markdown table")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "quiet: no per-run lines on stderr")
	cc.Complete(c, "scenario", Scenarios()...)
	return c
}

// runCommand runs the scenarios and prints their figures, also those of
// the scenarios done when one fails.
func runCommand(ctx context.Context, cc CommandConfig, o commandOptions) error {
	cfg := o.cfg
	if o.only != "" {
		cfg.Only = strings.Split(o.only, ",")
	}
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
		cfg.Exe = exe
	}
	if !o.quiet {
		cfg.Progress = cc.Stderr
	}
	results, err := Run(ctx, cfg)
	switch {
	case o.asJSON:
		if perr := cc.WriteJSON(cc.Stdout, results); perr != nil {
			return perr
		}
	case o.asTable:
		WriteMarkdown(cc.Stdout, results)
	default:
		WriteText(cc.Stdout, results)
	}
	if errors.Is(err, ErrUnknownScenario) {
		return cc.Usage(err)
	}
	return err
}
