package demo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// Prepare readies c.Out for a demo and starts its simulator: the folder,
// the built-in manifest written there unless c.Manifest names one, and a
// simulator keeping its jobs beside the batch, so that an interrupted demo
// resumes like a real run. It says on w where the simulator listens and
// what it renders, and points c at the simulator.
func Prepare(cfg sim.Config, c *batch.Config, w, warn io.Writer) (*Simulator, error) {
	if err := batch.RequireFolder(c.Out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %w", runner.ErrOutput, err)
	}
	if c.Manifest == "" {
		path, err := WriteManifest(c.Out)
		if err != nil {
			return nil, err
		}
		c.Manifest = path
	}
	srv, err := Start(cfg, c.Out, warn)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "demo: simulated Model API on %s; rendering %s into %s\n", srv.APIURL, c.Manifest, c.Out)
	if srv.Restored > 0 {
		fmt.Fprintf(w, "demo: resuming: the simulator still has the %s of earlier demos (%s)\n",
			account.Plural(srv.Restored, "job"), filepath.Join(c.Out, SimStateName))
	}
	c.APIBase = srv.APIURL
	// Each demo starts a simulator on a new port; its folder belongs to
	// the demo, never to a real API.
	c.BindOrigin = Origin
	c.Token = api.Token(srv.Token())
	c.Poll.Initial = 500 * time.Millisecond
	return srv, nil
}

// Finish stops the simulator, saves its jobs a last time and says on w
// what happened and what to try next (manifest "" is the built-in one).
// It returns the run's error, with a failed save, else the simulator's.
func (s *Simulator) Finish(w io.Writer, manifest, out string, runErr error, interrupted bool) error {
	closeErr, saveErr := s.Stop()
	fmt.Fprintln(w, s.Seen())
	WriteNext(w, manifest, out, runErr, interrupted)
	if saveErr != nil {
		return errors.Join(runErr, saveErr)
	}
	if runErr == nil && closeErr != nil {
		return closeErr
	}
	return runErr
}
