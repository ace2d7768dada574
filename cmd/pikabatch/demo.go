package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
	o.batch.rps = 50 // the simulator has no rate limit: a livelier demo
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
	fs.StringVar(&o.batch.manifest, "manifest", "", "manifest `file` to render (default: the built-in example, written to OUT/"+demo.ManifestName+")")
	fs.StringVar(&o.batch.out, "out", "out", "output `folder`")
	// No --progress here: -q turns the progress display off.
	fs.BoolVarP(&o.batch.quiet, "quiet", "q", false, "quiet: no progress display, warnings and errors only")
	fs.BoolVar(&o.faults, "faults", true, "inject recoverable faults (429s, 5xx, cut-off downloads, expired URLs)")
	o.batch.inputs.register(fs, true)
	return c
}

// runDemo runs the demo: the built-in manifest (or o.batch.manifest) on a
// simulator that keeps its jobs beside the batch, so that an interrupted
// demo resumes like a real run.
func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	b := o.batch
	if err := batch.RequireFolder(b.out); err != nil {
		return err
	}
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return fmt.Errorf("%w: %w", runner.ErrOutput, err)
	}
	if b.manifest == "" {
		path, err := demo.WriteManifest(b.out)
		var edited *demo.EditedManifestError
		if errors.As(err, &edited) {
			return usagef("%s", edited.Error())
		}
		if err != nil {
			return err
		}
		b.manifest = path
	}
	srv, err := demo.Start(o.sim, b.out, stderr)
	if err != nil {
		return err
	}
	defer srv.Close()
	if o.onSimulator != nil {
		o.onSimulator(srv.Running)
	}
	fmt.Fprintf(stdout, "demo: simulated Model API on %s; rendering %s into %s\n", srv.APIURL, b.manifest, b.out)
	if srv.Restored > 0 {
		fmt.Fprintf(stdout, "demo: resuming: the simulator still has the %s of earlier demos (%s)\n",
			plural(srv.Restored, "job"), filepath.Join(b.out, demo.SimStateName))
	}
	b.apiBase = srv.APIURL
	// Each demo starts a simulator on a new port; its folder belongs to
	// the demo, never to a real API.
	b.bindOrigin = demo.Origin
	b.token = api.Token(srv.Token())
	b.poll.Initial = 500 * time.Millisecond
	runErr := runBatch(ctx, b, stdout, stderr)
	return endDemo(ctx, stdout, o.batch, srv, runErr)
}

// endDemo stops the simulator, saves its jobs a last time and says what
// happened.
func endDemo(ctx context.Context, w io.Writer, o batchOptions, srv *demo.Simulator, runErr error) error {
	closeErr, saveErr := srv.Stop()
	c := srv.Counters()
	fmt.Fprintf(w, "simulator saw: %d jobs created, %d duplicate submits, %d 429s, %d 5xx, %d downloads (%d cut off, %d expired), %d file requests with a token\n",
		c.Submits, c.DuplicateSubmits, c.RateLimited, c.ServerErrors, c.Downloads, c.DownloadsTruncated, c.DownloadsExpired, c.FileRequestsWithAuth)
	printDemoNext(ctx, w, o, runErr)
	if saveErr != nil {
		return errors.Join(runErr, saveErr)
	}
	if runErr == nil && closeErr != nil {
		return closeErr
	}
	return runErr
}

// printDemoNext closes the demo: what happened, and what to try next.
func printDemoNext(ctx context.Context, w io.Writer, o batchOptions, runErr error) {
	again := "pikabatch demo"
	if o.manifest != "" {
		again += " --manifest " + shellWord(o.manifest)
	}
	if o.out != "out" {
		again += " --out " + shellWord(o.out)
	}
	out := shellWord(o.out)
	switch {
	case runErr == nil:
		fmt.Fprintf(w, "demo: done: every row is in %s (videos, results.jsonl); `%s` again submits nothing twice\n", o.out, again)
	case ctx.Err() != nil:
		fmt.Fprintf(w, "demo: interrupted: jobs submitted keep rendering on the simulator, which keeps them in %s; `%s` again collects them and submits the rest, each row once\n",
			filepath.Join(o.out, demo.SimStateName), again)
	default:
		fmt.Fprintf(w, "demo: stopped before every row was done (see above); `%s` again resumes\n", again)
	}
	fmt.Fprintf(w, "next:\n")
	fmt.Fprintf(w, "  where each row stands:   pikabatch status --out %s\n", out)
	fmt.Fprintf(w, "  the results as a table:  pikabatch export --out %s --format csv\n", out)
	fmt.Fprintf(w, "  every clip on one page:  pikabatch report --out %s\n", out)
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
