package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pikabatch/pikabatch/cmd/pikabatch/internal/bench"
)

// cmdBench measures this binary against the simulator (issue #5's
// scenarios); the README's Performance table is its --markdown output.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pikabatch bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg bench.Config
	only := fs.String("scenario", "", "comma-separated `names` to run (default all): "+strings.Join(bench.Scenarios(), ", "))
	fs.IntVar(&cfg.Runs, "runs", 3, "runs per scenario; figures are medians")
	fs.Float64Var(&cfg.Scale, "scale", 1, "multiply every scenario's row count (1 = the issue's sizes)")
	fs.Float64Var(&cfg.TimeScale, "time-scale", 1, "multiply the simulated job durations")
	fs.StringVar(&cfg.Dir, "dir", "", "scratch `folder` (default a temporary one, removed afterwards)")
	fs.StringVar(&cfg.Exe, "exe", "", "pikabatch `binary` to measure (default this one)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	markdown := fs.Bool("markdown", false, "print the results as a Markdown table")
	quiet := fs.Bool("q", false, "no per-run lines on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
		cfg.Exe = exe
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	results, err := bench.Run(ctx, cfg)
	switch {
	case *asJSON:
		writeJSON(stdout, results)
	case *markdown:
		bench.WriteMarkdown(stdout, results)
	default:
		bench.WriteText(stdout, results)
	}
	if errors.Is(err, bench.ErrUnknownScenario) {
		return usagef("%v", err)
	}
	return err
}
