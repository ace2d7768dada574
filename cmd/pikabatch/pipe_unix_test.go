//go:build unix

package main

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// fifoManifest makes a named pipe that serves content once and nothing
// after, as `--manifest /dev/stdin` or `<(generate)` do. It answers every
// open until the test ends, so that a command that opens it again sees it
// empty rather than hanging. opens counts the opens it answered: none means
// no one ever opened the pipe to read.
func fifoManifest(t *testing.T, name, content string) (path string, opens func() int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), name)
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	stop := make(chan struct{})
	done := make(chan struct{})
	served := make(chan int, 1)
	served <- 0
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Non-blocking: fails with ENXIO until a reader has the pipe
			// open, so that stop is seen without a reader ever coming.
			f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if errors.Is(err, syscall.ENXIO) {
				runtime.Gosched()
				continue
			}
			if err != nil {
				return
			}
			n := <-served
			if n == 0 {
				_, _ = f.WriteString(content)
			}
			served <- n + 1
			_ = f.Close()
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return path, func() int { n := <-served; served <- n; return n }
}

// TestManifestPipeRefused: a manifest through a pipe was logged "valid",
// then found empty when read again to submit. run and validate
// --check-urls read the manifest twice, so they refuse a pipe up front
// with a usage error naming it; plain validate reads it once and works.
func TestManifestPipeRefused(t *testing.T) {
	srv := startSim(t, sim.Config{})
	const content = "id,image\na,https://img.example.com/a.png\nb,https://img.example.com/b.png\n"
	for _, args := range [][]string{
		{"run", "--out", "OUT"},
		{"run", "--dry-run", "--out", "OUT"},
		{"validate", "--check-urls"},
	} {
		t.Run(args[0]+" "+args[1], func(t *testing.T) {
			path, opens := fifoManifest(t, "m.csv", content)
			for i, a := range args {
				if a == "OUT" {
					args[i] = filepath.Join(t.TempDir(), "out")
				}
			}
			code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), append(args, "--manifest", path)...)
			assert.Equal(t, exitUsage, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stderr, "--manifest "+path+" is a pipe")
			assert.Contains(t, stderr, "write it to a file first")
			assert.NotContains(t, stderr, "manifest valid")
			assert.NotContains(t, stdout, "rows, valid")
			assert.Zero(t, opens(), "refused before reading")
		})
	}
	assert.Zero(t, srv.Counters().Requests)

	path, _ := fifoManifest(t, "m.csv", content)
	code, stdout, stderr := invoke(t, nil, "validate", "--manifest", path)
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, path+": 2 rows, valid", "validate reads a pipe once")
}
