package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/cmd/pikabatch/internal/bench"
)

// benchOptions are bench's flags.
type benchOptions struct {
	cfg             bench.Config
	only            string // --scenario, comma-separated
	asJSON, asTable bool   // --json, --markdown
	quiet           bool
}

func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	var o benchOptions
	c := &cobra.Command{
		Use:   "bench [--scenario NAMES] [--runs N]",
		Short: "Measure this binary against the simulator",
		Long: `Measure this binary against the simulator: each scenario's figures with
their targets. The tables in cmd/pikabatch/internal/bench/README.md are its
--markdown output.`,
		Example: `  pikabatch bench --scenario overhead,slots --runs 1
  pikabatch bench --markdown`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runBench(c.Context(), o, stdout, stderr)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.only, "scenario", "", "comma-separated `names` to run (default all): "+strings.Join(bench.Scenarios(), ", "))
	fs.IntVar(&o.cfg.Runs, "runs", 3, "runs per scenario; figures are medians")
	fs.Float64Var(&o.cfg.Scale, "scale", 1, "multiply every scenario's row count (1 = each scenario's own size, as in the bench's README)")
	fs.Float64Var(&o.cfg.TimeScale, "time-scale", 1, "multiply the simulated job durations")
	fs.StringVar(&o.cfg.Dir, "dir", "", "scratch `folder` (default a temporary one, removed afterwards)")
	fs.StringVar(&o.cfg.ProfileDir, "profile", "", "write CPU and heap profiles of every pikabatch process started into `folder`")
	fs.StringVar(&o.cfg.Exe, "exe", "", "pikabatch `binary` to measure (default this one)")
	fs.BoolVar(&o.asJSON, "json", false, "print the results as JSON")
	fs.BoolVar(&o.asTable, "markdown", false, "print the results as a Markdown table")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "quiet: no per-run lines on stderr")
	completeWords(c, "scenario", bench.Scenarios()...)
	return c
}

// runBench runs the scenarios and prints their figures.
func runBench(ctx context.Context, o benchOptions, stdout, stderr io.Writer) error {
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
		cfg.Progress = stderr
	}
	results, err := bench.Run(ctx, cfg)
	switch {
	case o.asJSON:
		if perr := writeJSON(stdout, benchJSON{Version: jsonVersion, Scenarios: results}); perr != nil {
			return perr
		}
	case o.asTable:
		bench.WriteMarkdown(stdout, results)
	default:
		bench.WriteText(stdout, results)
	}
	if errors.Is(err, bench.ErrUnknownScenario) {
		return usagef("%v", err)
	}
	return err
}
