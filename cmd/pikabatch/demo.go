package main

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"

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
	srv, err := demo.Prepare(o.sim, &b.cfg, stdout, stderr)
	var edited *demo.EditedManifestError
	if errors.As(err, &edited) {
		return usagef("%s", edited.Error())
	}
	if err != nil {
		return err
	}
	defer srv.Close()
	if o.onSimulator != nil {
		o.onSimulator(srv.Running)
	}
	runErr := runBatch(ctx, b, stdout, stderr)
	return srv.Finish(stdout, o.batch.cfg.Manifest, o.batch.cfg.Out, runErr, ctx.Err() != nil)
}
