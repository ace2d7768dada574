package store

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The test binary doubles as the helper process for the lock and crash
// tests: re-executed with helperModeEnv set, it runs a helper instead of the
// tests.
const (
	helperModeEnv   = "PIKABATCH_STORE_TEST_HELPER"
	helperPathEnv   = "PIKABATCH_STORE_TEST_PATH"
	helperPrefixEnv = "PIKABATCH_STORE_TEST_PREFIX"

	holderCommand = "store test holder"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperModeEnv); mode != "" {
		os.Exit(runHelper(mode, os.Getenv(helperPathEnv), os.Getenv(helperPrefixEnv)))
	}
	goleak.VerifyTestMain(m)
}

func runHelper(mode, path, prefix string) int {
	var err error
	switch mode {
	case "exit":
		return 0
	case "hold":
		err = holdLock(path)
	case "crash":
		err = writeUntilKilled(path, prefix)
	case "compact":
		err = compactUntilKilled(path, prefix)
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// holdLock opens the store, says "ready" and keeps it open until its stdin
// is closed.
func holdLock(path string) error {
	s, err := Open(path, Options{Owner: CurrentOwner(holderCommand)})
	if err != nil {
		return err
	}
	if _, err := fmt.Println("ready"); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return s.Close()
}

// crashWriters is how many goroutines writeUntilKilled runs, so that the
// kill lands on batched commits too.
const crashWriters = 8

// writeUntilKilled Puts new submitted jobs and Updates them to running from
// several goroutines, printing "put KEY" or "upd KEY" after each call
// returns, until it is killed. It stops by itself after a bounded number of
// writes so that it can't outlive a parent that forgot it.
func writeUntilKilled(path, prefix string) error {
	s, err := Open(path, Options{Owner: CurrentOwner("store test crash " + prefix)})
	if err != nil {
		return err
	}
	ctx := context.Background()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs = make(chan error, crashWriters)
	)
	report := func(verb, key string) {
		mu.Lock()
		defer mu.Unlock()
		// One write per line: a kill can cut the stream only between lines
		// or leave a line without its newline, which the parent ignores.
		if _, err := os.Stdout.WriteString(verb + " " + key + "\n"); err != nil {
			os.Exit(3) // parent gone
		}
	}
	for g := range crashWriters {
		wg.Go(func() {
			for i := range 5000 {
				key := fmt.Sprintf("%s-%d-%05d", prefix, g, i)
				job := Job{Key: key, ParamHash: "h", State: StateSubmitted, RequestID: "req-" + key, Attempts: 1}
				if err := s.Put(ctx, job); err != nil {
					errs <- err
					return
				}
				report("put", key)
				if _, err := s.Update(ctx, key, func(j *Job) error {
					j.State = StateRunning
					j.Polls++
					return nil
				}); err != nil {
					errs <- err
					return
				}
				report("upd", key)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return s.Close()
}

// helperProcess is a running re-exec of the test binary.
type helperProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer // read only after wait

	waitOnce sync.Once
	waitErr  error
}

func startHelper(t *testing.T, mode, path, prefix string) *helperProcess {
	t.Helper()
	h := &helperProcess{cmd: exec.Command(os.Args[0])}
	h.cmd.Env = append(os.Environ(),
		helperModeEnv+"="+mode, helperPathEnv+"="+path, helperPrefixEnv+"="+prefix)
	h.cmd.Stderr = &h.stderr
	var err error
	h.stdin, err = h.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := h.cmd.StdoutPipe()
	require.NoError(t, err)
	h.out = bufio.NewReader(stdout)
	require.NoError(t, h.cmd.Start())
	t.Cleanup(func() {
		_ = h.cmd.Process.Kill() // no-op error if it already exited
		_ = h.wait()
	})
	return h
}

// readLine returns the helper's next complete line without its newline.
func (h *helperProcess) readLine(t *testing.T) string {
	t.Helper()
	line, err := h.out.ReadString('\n')
	if err != nil {
		werr := h.wait()
		require.FailNowf(t, "helper stopped talking", "read: %v; exit: %v; stderr: %s", err, werr, h.stderr.String())
	}
	return line[:len(line)-1]
}

func (h *helperProcess) wait() error {
	h.waitOnce.Do(func() { h.waitErr = h.cmd.Wait() })
	return h.waitErr
}
