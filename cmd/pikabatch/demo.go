package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/runner/sim/demo"
)

// demoOptions are the settings of a demo: a run's options and the
// simulated account.
type demoOptions struct {
	batch  batchOptions // run's defaults; manifest "" is the built-in one
	faults bool         // --faults: sim gets the demo's recoverable faults
	sim    sim.Config   // the simulated account, faults included

	onSimulator func(*sim.Running) // test seam: the simulator, once it listens
}

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	o := demoOptions{batch: runDefaults()}
	o.batch.cfg.RPS = 50 // the simulator has no rate limit: a livelier demo
	c := &cobra.Command{
		Use:   "demo [--out DIR]",
		Short: "Render the built-in example manifest on the built-in simulator",
		Long: `Render a manifest against a simulated Model API in this process: the
whole product, end to end, with no account and no network. The example
manifest is built in (written to OUT/` + demo.ManifestName + `), and the simulator
keeps its jobs beside the batch (OUT/` + demo.SimStateName + `): interrupt the
demo and run it again, and it resumes like a real run.`,
		Example: `  pikabatch demo
  pikabatch demo --out /tmp/demo --faults=false`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.sim = demo.SimConfig(o.faults)
			return runDemo(c.Context(), o, stdout, stderr)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.batch.cfg.Manifest, "manifest", "", "manifest `file` to render (default: the built-in example, written to OUT/"+demo.ManifestName+")")
	fs.StringVar(&o.batch.cfg.Out, "out", demo.DefaultOut, "output `folder`")
	// No --progress here: -q turns the progress display off.
	fs.BoolVarP(&o.batch.quiet, "quiet", "q", false, "quiet: no progress display, warnings and errors only")
	fs.BoolVar(&o.faults, "faults", true, "inject recoverable faults (429s, 5xx, cut-off downloads, expired URLs)")
	registerInputs(fs, &o.batch.cfg, true)
	return c
}

// runDemo runs the demo: the built-in manifest (or o.batch.manifest) on a
// simulator that keeps its jobs beside the batch, so that an interrupted
// demo resumes like a real run.
func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	b := o.batch
	if err := batch.RequireFolder(b.cfg.Out); err != nil {
		return err
	}
	if err := os.MkdirAll(b.cfg.Out, 0o755); err != nil {
		return fmt.Errorf("%w: %w", runner.ErrOutput, err)
	}
	if b.cfg.Manifest == "" {
		path, err := demo.WriteManifest(b.cfg.Out)
		var edited *demo.EditedManifestError
		if errors.As(err, &edited) {
			return usagef("%s", edited.Error())
		}
		if err != nil {
			return err
		}
		b.cfg.Manifest = path
	}
	srv, err := demo.Start(o.sim, b.cfg.Out, stderr)
	if err != nil {
		return err
	}
	defer srv.Close()
	if o.onSimulator != nil {
		o.onSimulator(srv.Running)
	}
	fmt.Fprintf(stdout, "demo: simulated Model API on %s; rendering %s into %s\n", srv.APIURL, b.cfg.Manifest, b.cfg.Out)
	if srv.Restored > 0 {
		fmt.Fprintf(stdout, "demo: resuming: the simulator still has the %s of earlier demos (%s)\n",
			plural(srv.Restored, "job"), filepath.Join(b.cfg.Out, demo.SimStateName))
	}
	b.cfg.APIBase = srv.APIURL
	// Each demo starts a simulator on a new port; its folder belongs to
	// the demo, never to a real API.
	b.cfg.BindOrigin = demo.Origin
	b.cfg.Token = api.Token(srv.Token())
	b.cfg.Poll.Initial = 500 * time.Millisecond
	runErr := runBatch(ctx, b, stdout, stderr)
	return endDemo(ctx, stdout, o.batch, srv, runErr)
}

// endDemo stops the simulator, saves its jobs a last time and says what
// happened.
func endDemo(ctx context.Context, w io.Writer, o batchOptions, srv *demo.Simulator, runErr error) error {
	closeErr, saveErr := srv.Stop()
	fmt.Fprintln(w, srv.Seen())
	demo.WriteNext(w, o.cfg.Manifest, o.cfg.Out, runErr, ctx.Err() != nil)
	if saveErr != nil {
		return errors.Join(runErr, saveErr)
	}
	if runErr == nil && closeErr != nil {
		return closeErr
	}
	return runErr
}
