// Package demo is the fixture behind `pikabatch demo`: the built-in
// manifest written into the output folder, and a simulator that keeps its
// jobs beside the batch, so that an interrupted demo resumes like a real
// run, each row submitted once.
package demo

import (
	"bytes"
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

	builtin "github.com/pikabatch/pikabatch/examples"
	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/atomicfile"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// Origin is what a demo's state file is bound to: each demo starts a
// simulator on a new port, and its folder belongs to the demo, never to a
// real API.
const Origin = "pikabatch-demo://simulator"

// Files the demo keeps in its output folder.
const (
	// ManifestName is the built-in manifest, written out so that the
	// user can read it and status, export and report find the batch whole.
	ManifestName = "demo-manifest.csv"
	// SimStateName holds the simulator's jobs (sim.Snapshot): the next
	// demo's simulator answers for the request IDs in the state file.
	SimStateName = ".pikabatch-demo-sim.json"
)

// EditedManifestError is returned by WriteManifest when the folder holds
// a file of the manifest's name with other content: the user's, never
// overwritten.
type EditedManifestError struct{ Path string }

func (e *EditedManifestError) Error() string {
	return e.Path + " is not the demo's manifest (edited?): pass it with --manifest, or remove it"
}

// SimConfig is the demo's simulated account: the simulator's defaults,
// but for shorter renders of larger videos, with recoverable faults or
// none.
func SimConfig(faults bool) sim.Config {
	cfg := sim.Config{RunTime: 1500 * time.Millisecond, RunJitter: 0.2, VideoSize: 256 << 10, Seed: time.Now().UnixNano()}
	if faults {
		cfg.Faults = sim.Faults{Rate429: 0.05, Rate5xx: 0.05, Spare5xxSubmits: true, RateTruncate: 0.2, RateExpire: 0.1}
	}
	return cfg
}

// WriteManifest writes the built-in manifest into out and returns its
// path. A file of that name with other content is refused
// (*EditedManifestError).
func WriteManifest(out string) (string, error) {
	path := filepath.Join(out, ManifestName)
	switch have, err := os.ReadFile(path); {
	case err == nil && bytes.Equal(have, builtin.ManifestCSV):
		return path, nil
	case err == nil:
		return "", &EditedManifestError{Path: path}
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

// Simulator is the demo's simulator, saving its jobs into the folder as
// each is created.
type Simulator struct {
	*sim.Running
	// Restored is how many jobs of an earlier demo it answers for.
	Restored int
	saver    *saver
}

// Start starts the demo's simulator on cfg, with the jobs an earlier demo
// left in out. What it cannot bring back (a file host off loopback, or
// its old port taken) it says on warn, and goes on without.
func Start(cfg sim.Config, out string, warn io.Writer) (*Simulator, error) {
	simState := filepath.Join(out, SimStateName)
	saved, resumed, err := load(simState, filepath.Join(out, shard.Spec{}.StateName()))
	if err != nil {
		return nil, err
	}
	snap := saved.Sim
	if resumed {
		// Same seed, prefix and file host: the jobs' request IDs and the
		// result URLs in the state file stay good.
		cfg.Seed, cfg.IDPrefix, cfg.FilesAddr = snap.Seed, snap.IDPrefix, saved.FilesAddr
		if cfg.FilesAddr != "" && !isLoopbackAddr(cfg.FilesAddr) {
			// The file is the folder's, and anyone who can write there could
			// otherwise have the demo open a port to the network.
			fmt.Fprintf(warn, "demo: %s names a file host off loopback (%s); serving files on loopback only: videos rendered and not yet downloaded will fail to download\n",
				simState, cfg.FilesAddr)
			cfg.FilesAddr = ""
		}
	}
	sv := &saver{path: simState}
	cfg.OnCreate = func(string) { sv.save() }
	srv, err := sim.Start(cfg, "127.0.0.1:0")
	if err != nil && cfg.FilesAddr != "" {
		// Its old port was taken since: rendered videos not yet
		// downloaded cannot be fetched from their recorded URLs.
		fmt.Fprintf(warn, "demo: the simulator's file host cannot listen on %s again (%v); videos rendered and not yet downloaded will fail to download\n", cfg.FilesAddr, err)
		cfg.FilesAddr = ""
		srv, err = sim.Start(cfg, "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	if resumed {
		if err := srv.Restore(snap); err != nil {
			_ = srv.Close()
			return nil, fmt.Errorf("%s: %w (remove %s to start the demo over)", simState, err, out)
		}
	}
	sv.attach(srv)
	return &Simulator{Running: srv, Restored: len(snap.Jobs), saver: sv}, nil
}

// Stop stops the simulator and saves its jobs a last time, after which no
// request comes in. closeErr is the simulator's; saveErr the first save
// that failed, after which the next demo may find request IDs its
// simulator never heard of.
func (s *Simulator) Stop() (closeErr, saveErr error) {
	closeErr = s.Close()
	s.saver.save()
	if err := s.saver.failed(); err != nil {
		saveErr = fmt.Errorf("save the simulator's jobs: %w", err)
	}
	return closeErr, saveErr
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

// saved is what the demo keeps of its simulator between runs: its jobs,
// and where it served their files, the host of the URLs the state file
// records for videos not yet downloaded.
type saved struct {
	FilesAddr string       `json:"files_addr"`
	Sim       sim.Snapshot `json:"sim"`
}

// load reads the simulator saved by an earlier demo into the folder.
// Without the batch's state file its jobs are of no use (the rows are all
// new): the simulator then starts empty, and a resubmit is no duplicate.
func load(path, statePath string) (saved, bool, error) {
	var sv saved
	if _, err := os.Stat(statePath); errors.Is(err, fs.ErrNotExist) {
		return sv, false, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return sv, false, nil
	}
	if err != nil {
		return sv, false, fmt.Errorf("read the simulator's jobs: %w", err)
	}
	if err := json.Unmarshal(b, &sv); err != nil {
		return sv, false, fmt.Errorf("read the simulator's jobs: %s: %w (remove %s to start the demo over)", path, err, filepath.Dir(path))
	}
	return sv, true, nil
}

// saver writes the simulator's jobs to a file, one whole snapshot after
// another: each save is taken and written under one lock, so the file
// never goes back to an older one.
type saver struct {
	path string

	mu  sync.Mutex
	srv *sim.Running
	err error // the first failed save
}

func (s *saver) attach(srv *sim.Running) {
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	s.save() // the restored jobs, or none: the file matches the new batch
}

func (s *saver) save() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	b, err := json.Marshal(saved{FilesAddr: strings.TrimPrefix(s.srv.FilesURL, "http://"), Sim: s.srv.Snapshot()})
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

func (s *saver) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
