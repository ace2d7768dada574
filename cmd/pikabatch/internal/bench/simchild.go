package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// simChildToken is the bearer token the child simulator accepts; it is a
// made-up one for loopback only.
const simChildToken = "bench-scale-token"

// simChild is `pikabatch sim` running as a child process: at a million
// jobs the simulator's own memory and CPU (its job table, its HTTP
// handlers) must not count as pikabatch's, and its garbage collector must
// not pause the run's.
type simChild struct {
	cmd    *exec.Cmd
	apiURL string
	client *http.Client
	waited chan error
}

// startSimChild starts `pikabatch sim` on a free loopback port with args
// added to its flags and reads its address back from the banner.
func (s *session) startSimChild(ctx context.Context, args ...string) (*simChild, error) {
	all := append([]string{"sim", "--addr", "127.0.0.1:0", "--token", simChildToken}, args...)
	cmd := exec.CommandContext(ctx, s.cfg.Exe, all...)
	cmd.Env = append(os.Environ(), "RUNCOMFY_API_TOKEN=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pikabatch sim: %w", err)
	}
	c := &simChild{cmd: cmd, client: &http.Client{Timeout: 10 * time.Second}, waited: make(chan error, 1)}
	sc := bufio.NewScanner(stdout)
	const banner = "simulated Model API on "
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), banner)
		if !ok {
			continue
		}
		c.apiURL, _, _ = strings.Cut(rest, " ")
		break
	}
	// The rest of the banner is not needed, but the pipe must be drained
	// or the child blocks on a full pipe.
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		c.waited <- cmd.Wait()
	}()
	if c.apiURL == "" {
		_ = cmd.Process.Kill()
		<-c.waited
		return nil, fmt.Errorf("pikabatch sim printed no address: %s", strings.TrimSpace(stderr.String()))
	}
	return c, nil
}

// env is the environment of a pikabatch run against this simulator.
func (c *simChild) env() []string {
	return []string{"RUNCOMFY_API_BASE=" + c.apiURL, "RUNCOMFY_API_TOKEN=" + simChildToken, "RUNCOMFY_API_TOKEN_FILE="}
}

// counters reads the simulator's counters.
func (c *simChild) counters(ctx context.Context) (sim.Counters, error) {
	var got sim.Counters
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL+"/_sim/counters", nil)
	if err != nil {
		return got, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return got, fmt.Errorf("sim counters: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return got, fmt.Errorf("sim counters: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		return got, fmt.Errorf("sim counters: %w", err)
	}
	return got, nil
}

// stop interrupts the simulator and waits for it to exit.
func (c *simChild) stop() error {
	c.client.CloseIdleConnections()
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = c.cmd.Process.Kill()
	}
	select {
	case <-c.waited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.waited
	}
	return nil // interrupted on purpose: its exit status says so, not a failure
}
