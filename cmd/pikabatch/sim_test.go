package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
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
			"--fault-odd-status", "1", "--fault-gateway", "0",
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
	assert.Contains(t, []string{"pending", "queued", "starting", "processing"}, m["status"], "--fault-odd-status 1")

	code, m = call(http.MethodPost, submit, "tok", `{"image":"https://x.example/b.png"}`)
	assert.Equal(t, http.StatusBadRequest, code, "--balance-jobs 1")
	assert.Equal(t, map[string]any{"error": map[string]any{"code": 400002.0,
		"message": "insufficient balance: top up the account to submit more jobs"}}, m)
}

func TestSimBadFlagValues(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--timestamps", "us"}, {"--error-shape", "xml"}, {"--bad-token-status", "403"},
		{"--balance-jobs", "-1"}, {"--id-prefix", "xyz"}, {"--fault-gateway", "2"},
	} {
		err := run(t.Context(), append([]string{"sim", "--addr", "127.0.0.1:0"}, args...), io.Discard, io.Discard)
		var ue *usageError
		assert.ErrorAs(t, err, &ue, "%v", args)
	}
}
