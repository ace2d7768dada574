package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// TestVerifyRemovesOnTheStateWordOnly: a process that is not the batch's
// run listens on its control socket and claims another hash for a good
// video. verify --remove-bad judges from the state file and the disk, so
// the video stays and verify finds nothing wrong.
func TestVerifyRemovesOnTheStateWordOnly(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, stderr)

	index, err := os.ReadFile(filepath.Join(out, "results.jsonl"))
	require.NoError(t, err)
	a := filepath.Join(out, "a.mp4")
	good, err := os.ReadFile(a)
	require.NoError(t, err)
	// The peer's answer: every entry as the run left it, with the hashes
	// replaced.
	var lies bytes.Buffer
	for _, line := range strings.SplitAfter(string(index), "\n") {
		if i := strings.Index(line, `"sha256":"`); i >= 0 {
			j := i + len(`"sha256":"`)
			line = line[:j] + strings.Repeat("0", 64) + line[j+64:]
		}
		lies.WriteString(line)
	}
	ln, err := net.Listen("unix", live.SocketPath(filepath.Join(out, ".pikabatch.db")))
	require.NoError(t, err)
	peer := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(lies.Bytes())
	})}
	go func() { _ = peer.Serve(ln) }()
	t.Cleanup(func() { _ = peer.Close() })

	code, stdout, stderr := invoke(t, nil, "verify", "--out", out, "--remove-bad")
	assert.Equal(t, exitOK, code, stdout+stderr)
	assert.Contains(t, stdout, "3 ok\n")
	after, err := os.ReadFile(a)
	require.NoError(t, err, "a good video was removed on a socket peer's word")
	assert.Equal(t, good, after)
}

// TestVerifyRemoveBadLeavesALiveRunAlone: while a run holds the state
// file, verify --remove-bad cannot read it, so it removes nothing and says
// why (exit 75); verify without it asks the run as before.
func TestVerifyRemoveBadLeavesALiveRunAlone(t *testing.T) {
	srv := slowSim(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	lr := startLiveRun(t, testOptions(srv, m, filepath.Join(dir, "out")), 3)

	code, _, stderr := invoke(t, nil, "verify", "--out", lr.out, "--remove-bad")
	assert.Equal(t, exitTempFail, code, stderr)
	assert.Contains(t, stderr, "--remove-bad reads the state file itself")
	code, stdout, stderr := invoke(t, nil, "verify", "--out", lr.out)
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "verified 0 files of 0 done jobs")
	require.ErrorIs(t, lr.stop(t), context.Canceled)
}
