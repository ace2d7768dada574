package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// demoOrigin is what a demo's state file is bound to.
const demoOrigin = "pikabatch-demo://simulator"

// cmdDemo renders a manifest against an in-process simulator: the whole
// product, end to end, with no account and no network.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pikabatch demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := runDefaults()
	o.rps = 50 // the simulator has no rate limit: a livelier demo
	fs.StringVar(&o.manifest, "manifest", "examples/manifest.csv", "manifest `file` to render")
	fs.StringVar(&o.out, "out", "out", "output `folder`")
	fs.BoolVar(&o.quiet, "q", false, "quiet: warnings and errors only")
	faults := fs.Bool("faults", true, "inject recoverable faults (429s, 5xx, cut-off downloads, expired URLs)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usagef("%v", err)
	}
	// A simulated account with the simulator's defaults, but for shorter
	// renders of larger videos.
	cfg := sim.Config{RunTime: 1500 * time.Millisecond, RunJitter: 0.2, VideoSize: 256 << 10, Seed: time.Now().UnixNano()}
	if *faults {
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
