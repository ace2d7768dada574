package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// childResult is what one pikabatch process did and cost.
type childResult struct {
	wall   time.Duration
	cpu    time.Duration // user + system
	maxRSS int64         // peak resident set, bytes; 0 without /proc (see watchPeakRSS)
	stdout []byte
}

// child runs the pikabatch binary with args and env added to this process's
// environment, and waits for it. A non-zero exit is an error carrying its
// stderr.
func (s *session) child(ctx context.Context, env []string, args ...string) (childResult, error) {
	return s.childWatched(ctx, env, nil, args...)
}

// childWatched is child with watch, if set, called once the process has
// started; the function it returns is called once the process has exited.
func (s *session) childWatched(ctx context.Context, env []string, watch func(pid int) (stop func()), args ...string) (childResult, error) {
	cmd := exec.CommandContext(ctx, s.cfg.Exe, args...)
	cmd.Env = append(os.Environ(), env...)
	if dir := s.cfg.ProfileDir; dir != "" {
		name := filepath.Join(dir, fmt.Sprintf("%s-%d", args[0], s.children.Add(1)))
		cmd.Env = append(cmd.Env, EnvCPUProfile+"="+name+".cpu.pprof", EnvHeapProfile+"="+name+".heap.pprof")
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return childResult{}, fmt.Errorf("pikabatch %s: %w", args[0], err)
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	stopWatch := func() {}
	if watch != nil {
		stopWatch = watch(cmd.Process.Pid)
	}
	err := cmd.Wait()
	wall := time.Since(start)
	maxRSS := peak()
	stopWatch()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "…" + msg[len(msg)-2000:]
		}
		return childResult{}, fmt.Errorf("pikabatch %s: %w: %s", args[0], err, msg)
	}
	ps := cmd.ProcessState
	return childResult{
		wall:   wall,
		cpu:    ps.UserTime() + ps.SystemTime(),
		maxRSS: maxRSS,
		stdout: stdout.Bytes(),
	}, nil
}

// runSummary is the part of `pikabatch run --json` the scenarios check.
type runSummary struct {
	Rows        int            `json:"rows"`
	Submitted   int            `json:"submitted"`
	Downloaded  int            `json:"downloaded"`
	SkippedDone int            `json:"skipped_done"`
	Failed      int            `json:"failed"`
	Final       map[string]int `json:"final"`
	AccountJobs int            `json:"account_jobs_at_once"`
	APICalls    struct {
		Submit      int64 `json:"submit"`
		Status      int64 `json:"status"`
		Result      int64 `json:"result"`
		RateLimited int64 `json:"rate_limited"`
	} `json:"api_calls"`
}

// runBatch runs `pikabatch run` against the simulator and checks that every
// row ended done.
func (s *session) runBatch(ctx context.Context, srv *simServer, manifest, out string, flags ...string) (childResult, runSummary, error) {
	env := []string{"RUNCOMFY_API_BASE=" + srv.apiURL, "RUNCOMFY_API_TOKEN=" + srv.Token(), "RUNCOMFY_API_TOKEN_FILE="}
	return s.runBatchEnv(ctx, env, manifest, out, flags...)
}

// runBatchEnv is runBatch against the API that env names.
func (s *session) runBatchEnv(ctx context.Context, env []string, manifest, out string, flags ...string) (childResult, runSummary, error) {
	return s.runBatchWatched(ctx, env, nil, manifest, out, flags...)
}

// runBatchWatched is runBatchEnv with a watch on the child (see childWatched).
func (s *session) runBatchWatched(ctx context.Context, env []string, watch func(pid int) func(), manifest, out string, flags ...string) (childResult, runSummary, error) {
	args := append([]string{"run", "--manifest", manifest, "--out", out, "--json", "-q"}, flags...)
	res, err := s.childWatched(ctx, env, watch, args...)
	if err != nil {
		return res, runSummary{}, err
	}
	var sum runSummary
	if err := json.Unmarshal(res.stdout, &sum); err != nil {
		return res, sum, fmt.Errorf("read run summary: %w", err)
	}
	if done := sum.Final["done"]; done != sum.Rows {
		return res, sum, fmt.Errorf("%d of %d rows done: %s", done, sum.Rows, res.stdout)
	}
	return res, sum, nil
}

// errNotDone is a scenario whose run left work undone.
var errNotDone = errors.New("run left rows undone")
