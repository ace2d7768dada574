package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSimFlags checks that the contract flags of `pikabatch sim` reach the
// simulator, talking to it over loopback.
func TestSimFlags(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{
			"sim", "--addr", "127.0.0.1:0", "--token", "tok", "--balance-jobs", "1", "--timestamps", "ms",
			"--error-shape", "nested", "--bad-token-status", "400", "--id-prefix", "0123456789ab",
			"--fault-odd-status", "1", "--fault-odd-queued", "--fault-gateway", "0", "--balance-status", "400",
		}, pw, io.Discard)
		_ = pw.CloseWithError(err)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		_, _ = io.Copy(io.Discard, pr)
		assert.ErrorIs(t, <-done, context.Canceled)
	})
	sc := bufio.NewScanner(pr)
	require.True(t, sc.Scan(), "the simulator prints its address")
	line := sc.Text()
	base := line[strings.Index(line, "http://"):strings.Index(line, " (result")]
	go func() { _, _ = io.Copy(io.Discard, pr) }() // the rest of the banner

	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	call := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return resp.StatusCode, m
	}
	const submit = "/v1/models/" + defaultModel
	code, m := call(http.MethodPost, submit, "wrong", `{"image":"https://x.example/a.png"}`)
	assert.Equal(t, http.StatusBadRequest, code, "--bad-token-status 400")
	assert.Equal(t, map[string]any{"error": map[string]any{"code": 400004.0, "message": "invalid or missing API token"}}, m,
		"--error-shape nested")

	code, m = call(http.MethodPost, submit, "tok", `{"image":"https://x.example/a.png"}`)
	require.Equal(t, http.StatusOK, code, "%v", m)
	id := m["request_id"].(string)
	assert.True(t, strings.HasPrefix(id, "01234567-89ab-"), "--id-prefix: %s", id)

	code, m = call(http.MethodGet, "/v1/requests/"+id+"/status", "tok", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, []string{"pending", "waiting", "queued", "starting", "processing"}, m["status"], "--fault-odd-status 1")

	code, m = call(http.MethodPost, submit, "tok", `{"image":"https://x.example/b.png"}`)
	assert.Equal(t, http.StatusBadRequest, code, "--balance-jobs 1 --balance-status 400")
	assert.Equal(t, map[string]any{"error": map[string]any{"code": 400002.0,
		"message": "insufficient balance: top up the account to submit more jobs"}}, m)
}

func TestSimBadFlagValues(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--timestamps", "us"}, {"--error-shape", "xml"}, {"--bad-token-status", "403"},
		{"--balance-jobs", "-1"}, {"--id-prefix", "xyz"}, {"--fault-gateway", "2"}, {"--balance-status", "401"},
	} {
		err := run(t.Context(), append([]string{"sim", "--addr", "127.0.0.1:0"}, args...), io.Discard, io.Discard)
		var ue *usageError
		assert.ErrorAs(t, err, &ue, "%v", args)
	}
}

// startSimCommand runs `pikabatch sim ARGS` until the test ends and returns
// its banner, up to and including the try: line.
func startSimCommand(t *testing.T, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"sim", "--addr", "127.0.0.1:0", "--run-ms", "20"}, args...), pw, io.Discard)
		_ = pw.CloseWithError(err)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		_, _ = io.Copy(io.Discard, pr)
		assert.ErrorIs(t, <-done, context.Canceled)
	})
	var banner []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		banner = append(banner, sc.Text())
		if strings.HasPrefix(sc.Text(), "try: ") {
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			return banner
		}
	}
	t.Fatalf("no try: line in %q", banner)
	return nil
}

// runTryLine runs a try: line's command in-process, into out.
func runTryLine(t *testing.T, try, out string) (int, string) {
	t.Helper()
	words := strings.Fields(strings.TrimPrefix(try, "try: "))
	env := map[string]string{"RUNCOMFY_API_TOKEN_FILE": ""}
	for len(words) > 0 && strings.Contains(words[0], "=") {
		k, v, _ := strings.Cut(words[0], "=")
		env[k] = v
		words = words[1:]
	}
	require.Equal(t, "pikabatch", words[0], try)
	args := words[1:]
	for i := range args {
		if i > 0 && args[i-1] == "--out" {
			args[i] = out
		}
	}
	code, _, stderr := invoke(t, env, args...)
	return code, stderr
}

// The try: line works as printed, the simulator's token
// included, and a user's RUNCOMFY_API_TOKEN is never printed.
func TestSimTryLineWorks(t *testing.T) {
	t.Chdir("../..") // where examples/manifest.csv is
	t.Setenv("RUNCOMFY_API_TOKEN", "")
	banner := startSimCommand(t)
	try := banner[len(banner)-1]
	assert.Contains(t, try, "RUNCOMFY_API_TOKEN=sim_", "the made-up token")
	assert.Contains(t, try, "--manifest examples/manifest.csv")
	code, stderr := runTryLine(t, try, filepath.Join(t.TempDir(), "out"))
	assert.Equal(t, exitOK, code, stderr)

	const secret = "user-secret-token-4711"
	t.Setenv("RUNCOMFY_API_TOKEN", secret)
	banner = startSimCommand(t)
	assert.NotContains(t, strings.Join(banner, "\n"), secret)
	try = banner[len(banner)-1]
	assert.NotContains(t, try, "RUNCOMFY_API_TOKEN=", "the shell has it already")
	code, stderr = runTryLine(t, try, filepath.Join(t.TempDir(), "out"))
	assert.Equal(t, exitOK, code, stderr)

	banner = startSimCommand(t, "--token", "rehearsal")
	try = banner[len(banner)-1]
	assert.Contains(t, try, "RUNCOMFY_API_TOKEN=rehearsal", "--token, not the user's")
	code, stderr = runTryLine(t, try, filepath.Join(t.TempDir(), "out"))
	assert.Equal(t, exitOK, code, stderr)
}

// --run-ms 0 asks for jobs that finish at once (the scale bench), not for
// sim.Config's default run time.
func TestSimRunMSZeroIsInstant(t *testing.T) {
	t.Parallel()
	banner := startSimCommand(t, "--token", "tok", "--run-ms", "0")
	call := simCaller(t, banner, "tok")
	m := call(http.MethodPost, "/v1/models/"+defaultModel, `{"image":"https://x.example/a.png"}`)
	id, _ := m["request_id"].(string)
	require.NotEmpty(t, id, "%v", m)
	// The default run time is 2 s: a job already finished is the 0.
	assert.Equal(t, "succeeded", call(http.MethodGet, "/v1/requests/"+id+"/result", "")["status"])
}

// simCaller returns a call to the API of the simulator whose banner is
// given, with token: the method, path and body in, the decoded JSON
// answer out.
func simCaller(t *testing.T, banner []string, token string) func(method, path, body string) map[string]any {
	t.Helper()
	base := banner[0][strings.Index(banner[0], "http://"):strings.Index(banner[0], " (result")]
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return func(method, path, body string) map[string]any {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return m
	}
}
