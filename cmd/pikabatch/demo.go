package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// demoOrigin is what a demo's state file is bound to.
const demoOrigin = "pikabatch-demo://simulator"

// demoOptions are the demo's flags: a run's options, and faults or not.
type demoOptions struct {
	batch  batchOptions
	faults bool
}

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	o := demoOptions{batch: runDefaults()}
	o.batch.rps = 50 // the simulator has no rate limit: a livelier demo
	c := &cobra.Command{
		Use:   "demo [--out DIR]",
		Short: "Render examples/manifest.csv on the built-in simulator",
		Long: `Render a manifest against a simulated Model API in this process: the
whole product, end to end, with no account and no network.`,
		Example: `  pikabatch demo
  pikabatch demo --out /tmp/demo --faults=false`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runDemo(c.Context(), o, stdout, stderr)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.batch.manifest, "manifest", "examples/manifest.csv", "manifest `file` to render")
	fs.StringVar(&o.batch.out, "out", "out", "output `folder`")
	// No --progress here: -q turns the progress display off.
	fs.BoolVarP(&o.batch.quiet, "quiet", "q", false, "quiet: no progress display, warnings and errors only")
	fs.BoolVar(&o.faults, "faults", true, "inject recoverable faults (429s, 5xx, cut-off downloads, expired URLs)")
	return c
}

// runDemo renders a manifest against an in-process simulator.
func runDemo(ctx context.Context, do demoOptions, stdout, stderr io.Writer) error {
	o := do.batch
	// A simulated account with the simulator's defaults, but for shorter
	// renders of larger videos.
	cfg := sim.Config{RunTime: 1500 * time.Millisecond, RunJitter: 0.2, VideoSize: 256 << 10, Seed: time.Now().UnixNano()}
	if do.faults {
		cfg.Faults = sim.Faults{Rate429: 0.05, Rate5xx: 0.05, RateTruncate: 0.2, RateExpire: 0.1}
	}
	srv, err := sim.Start(cfg, "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "demo: simulated Model API on %s; rendering %s into %s\n", srv.APIURL, o.manifest, o.out)
	o.apiBase = srv.APIURL
	// Each demo starts a simulator on a new port; its folder belongs to
	// the demo, never to a real API.
	o.bindOrigin = demoOrigin
	o.token = api.Token(srv.Token())
	o.poll.Initial = 500 * time.Millisecond
	err = runBatch(ctx, o, stdout, stderr)
	c := srv.Counters()
	fmt.Fprintf(stdout, "simulator saw: %d jobs created, %d duplicate submits, %d 429s, %d 5xx, %d downloads (%d cut off, %d expired), %d file requests with a token\n",
		c.Submits, c.DuplicateSubmits, c.RateLimited, c.ServerErrors, c.Downloads, c.DownloadsTruncated, c.DownloadsExpired, c.FileRequestsWithAuth)
	if err == nil {
		fmt.Fprintf(stdout, "demo: done; videos and results.jsonl are in %s (run it again: nothing is submitted twice)\n", o.out)
	}
	return err
}
