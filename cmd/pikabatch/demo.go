package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	builtin "github.com/pikabatch/pikabatch/examples"
	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/atomicfile"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// demoOrigin is what a demo's state file is bound to.
const demoOrigin = "pikabatch-demo://simulator"

// Files the demo keeps in its output folder.
const (
	// demoManifestName is the built-in manifest, written out so that the
	// user can read it and status, export and report find the batch whole.
	demoManifestName = "demo-manifest.csv"
	// demoSimStateName holds the simulator's jobs (sim.Snapshot): the next
	// demo's simulator answers for the request IDs in the state file.
	demoSimStateName = ".pikabatch-demo-sim.json"
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
manifest is built in (written to OUT/` + demoManifestName + `), and the simulator
keeps its jobs beside the batch (OUT/` + demoSimStateName + `): interrupt the
demo and run it again, and it resumes like a real run.`,
		Example: `  pikabatch demo
  pikabatch demo --out /tmp/demo --faults=false`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.sim = demoSimConfig(o.faults)
			return runDemo(c.Context(), o, stdout, stderr)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.batch.manifest, "manifest", "", "manifest `file` to render (default: the built-in example, written to OUT/"+demoManifestName+")")
	fs.StringVar(&o.batch.out, "out", "out", "output `folder`")
	// No --progress here: -q turns the progress display off.
	fs.BoolVarP(&o.batch.quiet, "quiet", "q", false, "quiet: no progress display, warnings and errors only")
	fs.BoolVar(&o.faults, "faults", true, "inject recoverable faults (429s, 5xx, cut-off downloads, expired URLs)")
	return c
}

// demoSimConfig is the demo's simulated account: the simulator's
// defaults, but for shorter renders of larger videos, with recoverable
// faults or none.
func demoSimConfig(faults bool) sim.Config {
	cfg := sim.Config{RunTime: 1500 * time.Millisecond, RunJitter: 0.2, VideoSize: 256 << 10, Seed: time.Now().UnixNano()}
	if faults {
		cfg.Faults = sim.Faults{Rate429: 0.05, Rate5xx: 0.05, Spare5xxSubmits: true, RateTruncate: 0.2, RateExpire: 0.1}
	}
	return cfg
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
		path, err := writeDemoManifest(b.out)
		if err != nil {
			return err
		}
		b.manifest = path
	}
	srv, saver, restored, err := startDemoSim(o.sim, b.out, stderr)
	if err != nil {
		return err
	}
	defer srv.Close()
	if o.onSimulator != nil {
		o.onSimulator(srv)
	}
	fmt.Fprintf(stdout, "demo: simulated Model API on %s; rendering %s into %s\n", srv.APIURL, b.manifest, b.out)
	if restored > 0 {
		fmt.Fprintf(stdout, "demo: resuming: the simulator still has the %s of earlier demos (%s)\n",
			plural(restored, "job"), filepath.Join(b.out, demoSimStateName))
	}
	b.apiBase = srv.APIURL
	// Each demo starts a simulator on a new port; its folder belongs to
	// the demo, never to a real API.
	b.bindOrigin = demoOrigin
	b.token = api.Token(srv.Token())
	b.poll.Initial = 500 * time.Millisecond
	runErr := runBatch(ctx, b, stdout, stderr)
	return endDemo(ctx, stdout, o.batch, srv, saver, runErr)
}

// startDemoSim starts the demo's simulator on cfg, with the jobs an
// earlier demo left in out, saving them there as they come. It returns
// how many jobs it restored.
func startDemoSim(cfg sim.Config, out string, stderr io.Writer) (*sim.Running, *simSaver, int, error) {
	simState := filepath.Join(out, demoSimStateName)
	saved, resumed, err := loadDemoSim(simState, filepath.Join(out, shard.Spec{}.StateName()))
	if err != nil {
		return nil, nil, 0, err
	}
	snap := saved.Sim
	if resumed {
		// Same seed, prefix and file host: the jobs' request IDs and the
		// result URLs in the state file stay good.
		cfg.Seed, cfg.IDPrefix, cfg.FilesAddr = snap.Seed, snap.IDPrefix, saved.FilesAddr
		if cfg.FilesAddr != "" && !isLoopbackAddr(cfg.FilesAddr) {
			// The file is the folder's, and anyone who can write there could
			// otherwise have the demo open a port to the network.
			fmt.Fprintf(stderr, "demo: %s names a file host off loopback (%s); serving files on loopback only: videos rendered and not yet downloaded will fail to download\n",
				simState, cfg.FilesAddr)
			cfg.FilesAddr = ""
		}
	}
	saver := &simSaver{path: simState}
	cfg.OnCreate = func(string) { saver.save() }
	srv, err := sim.Start(cfg, "127.0.0.1:0")
	if err != nil && cfg.FilesAddr != "" {
		// Its old port was taken since: rendered videos not yet
		// downloaded cannot be fetched from their recorded URLs.
		fmt.Fprintf(stderr, "demo: the simulator's file host cannot listen on %s again (%v); videos rendered and not yet downloaded will fail to download\n", cfg.FilesAddr, err)
		cfg.FilesAddr = ""
		srv, err = sim.Start(cfg, "127.0.0.1:0")
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("start simulator: %w", err)
	}
	if resumed {
		if err := srv.Restore(snap); err != nil {
			_ = srv.Close()
			return nil, nil, 0, fmt.Errorf("%s: %w (remove %s to start the demo over)", simState, err, out)
		}
	}
	saver.attach(srv)
	return srv, saver, len(snap.Jobs), nil
}

// endDemo stops the simulator, saves its jobs a last time and says what
// happened.
func endDemo(ctx context.Context, w io.Writer, o batchOptions, srv *sim.Running, saver *simSaver, runErr error) error {
	// No request may come in after the last save.
	closeErr := srv.Close()
	saver.save()
	c := srv.Counters()
	fmt.Fprintf(w, "simulator saw: %d jobs created, %d duplicate submits, %d 429s, %d 5xx, %d downloads (%d cut off, %d expired), %d file requests with a token\n",
		c.Submits, c.DuplicateSubmits, c.RateLimited, c.ServerErrors, c.Downloads, c.DownloadsTruncated, c.DownloadsExpired, c.FileRequestsWithAuth)
	printDemoNext(ctx, w, o, runErr)
	if err := saver.failed(); err != nil {
		// The next demo may find request IDs its simulator never heard of.
		return errors.Join(runErr, fmt.Errorf("save the simulator's jobs: %w", err))
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
			filepath.Join(o.out, demoSimStateName), again)
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

// writeDemoManifest writes the built-in manifest into out and returns its
// path. A file of that name with other content is the user's: refused.
func writeDemoManifest(out string) (string, error) {
	path := filepath.Join(out, demoManifestName)
	switch have, err := os.ReadFile(path); {
	case err == nil && bytes.Equal(have, builtin.ManifestCSV):
		return path, nil
	case err == nil:
		return "", usagef("%s is not the demo's manifest (edited?): pass it with --manifest, or remove it", path)
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%w: %w", runner.ErrOutput, err)
	}
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(builtin.ManifestCSV)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%w: write the demo's manifest: %w", runner.ErrOutput, err)
	}
	return path, nil
}

// isLoopbackAddr reports whether addr is HOST:PORT with HOST a loopback IP
// address. A name is not: it may resolve anywhere.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// demoSim is what the demo keeps of its simulator between runs: its jobs,
// and where it served their files, the host of the URLs the state file
// records for videos not yet downloaded.
type demoSim struct {
	FilesAddr string       `json:"files_addr"`
	Sim       sim.Snapshot `json:"sim"`
}

// loadDemoSim reads the simulator saved by an earlier demo into the
// folder. Without the batch's state file its jobs are of no use (the rows
// are all new): the simulator then starts empty, and a resubmit is no
// duplicate.
func loadDemoSim(path, statePath string) (demoSim, bool, error) {
	var saved demoSim
	if _, err := os.Stat(statePath); errors.Is(err, fs.ErrNotExist) {
		return saved, false, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return saved, false, nil
	}
	if err != nil {
		return saved, false, fmt.Errorf("read the simulator's jobs: %w", err)
	}
	if err := json.Unmarshal(b, &saved); err != nil {
		return saved, false, fmt.Errorf("read the simulator's jobs: %s: %w (remove %s to start the demo over)", path, err, filepath.Dir(path))
	}
	return saved, true, nil
}

// simSaver writes the simulator's jobs to a file, one whole snapshot after
// another: each save is taken and written under one lock, so the file
// never goes back to an older one.
type simSaver struct {
	path string

	mu  sync.Mutex
	srv *sim.Running
	err error // the first failed save
}

func (s *simSaver) attach(srv *sim.Running) {
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	s.save() // the restored jobs, or none: the file matches the new batch
}

func (s *simSaver) save() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	b, err := json.Marshal(demoSim{FilesAddr: strings.TrimPrefix(s.srv.FilesURL, "http://"), Sim: s.srv.Snapshot()})
	if err == nil {
		err = atomicfile.Write(s.path, 0o644, func(w io.Writer) error {
			_, err := w.Write(b)
			return err
		})
	}
	if err != nil && s.err == nil {
		s.err = err
	}
}

func (s *simSaver) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
