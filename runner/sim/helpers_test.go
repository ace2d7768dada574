package sim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/internal/clocktest"
	"github.com/pikabatch/pikabatch/runner/sim"
)

const testToken = "test-token-1234"

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// env is a simulator behind two httptest servers, with a fake clock and a
// client that sends the token to the API only.
type env struct {
	t      *testing.T
	srv    *sim.Server
	clock  *clocktest.Clock
	api    *httptest.Server
	files  *httptest.Server
	client *http.Client
}

// setup starts a simulator with cfg; unset Token, Seed, RunTime and Now get
// test values.
func setup(t *testing.T, cfg sim.Config) *env {
	t.Helper()
	clock := clocktest.New(t0)
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.RunTime == 0 {
		cfg.RunTime = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := sim.New(cfg)
	require.NoError(t, err)
	e := &env{t: t, srv: srv, clock: clock}
	e.api = httptest.NewServer(srv.APIHandler())
	e.files = httptest.NewServer(srv.FilesHandler())
	srv.SetFilesBase(e.files.URL)
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	e.client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		e.api.Close()
		e.files.Close()
		srv.Close()
	})
	return e
}

// settle waits until every started job's input fetch has answered, so the
// fake clock can move on.
func (e *env) settle() {
	e.t.Helper()
	require.NoError(e.t, e.srv.WaitFetches(e.t.Context()))
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// input returns a valid model input, distinct per n.
func input(n int) map[string]any {
	return map[string]any{
		"image":      fmt.Sprintf("https://images.example.com/%d.png", n),
		"promptText": "a cat surfing a wave",
		"resolution": "720p",
		"seed":       n,
	}
}

// call sends an authenticated API request. body may be nil, a string (sent
// as is) or a value to marshal. A transport error is returned, not fatal.
func (e *env) call(method, path string, body any) (int, map[string]any, http.Header, error) {
	e.t.Helper()
	return e.callWith(method, path, body, "Bearer "+testToken)
}

func (e *env) callWith(method, path string, body any, auth string) (int, map[string]any, http.Header, error) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		require.NoError(e.t, err)
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.api.URL+path, r)
	require.NoError(e.t, err)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, resp.Header, err
	}
	var m map[string]any
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(e.t, json.Unmarshal(raw, &m), "body %s", raw)
	}
	return resp.StatusCode, m, resp.Header, nil
}

// mustCall is call with a transport error fatal.
func (e *env) mustCall(method, path string, body any) (int, map[string]any, http.Header) {
	e.t.Helper()
	code, m, h, err := e.call(method, path, body)
	require.NoError(e.t, err)
	return code, m, h
}

// submit submits in and requires 200, returning the request ID.
func (e *env) submit(in any) string {
	e.t.Helper()
	code, m, _ := e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, in)
	require.Equal(e.t, http.StatusOK, code, "submit answered %v", m)
	id, ok := m["request_id"].(string)
	require.True(e.t, ok, "no request_id in %v", m)
	return id
}

func (e *env) status(id string) map[string]any {
	e.t.Helper()
	code, m, _ := e.mustCall(http.MethodGet, "/v1/requests/"+id+"/status", nil)
	require.Equal(e.t, http.StatusOK, code, "status answered %v", m)
	return m
}

func (e *env) result(id string) map[string]any {
	e.t.Helper()
	code, m, _ := e.mustCall(http.MethodGet, "/v1/requests/"+id+"/result", nil)
	require.Equal(e.t, http.StatusOK, code, "result answered %v", m)
	return m
}

// videoURL asks for the result of a completed job and returns its video URL.
func (e *env) videoURL(id string) string {
	e.t.Helper()
	m := e.result(id)
	require.Equal(e.t, "succeeded", m["status"], "result %v", m)
	out, ok := m["output"].(map[string]any)
	require.True(e.t, ok, "no output in %v", m)
	u, ok := out["video"].(string)
	require.True(e.t, ok, "no video in %v", out)
	return u
}

// briefStates summarises the status of each job: "in_queue#N" carries the
// queue position.
func (e *env) briefStates(ids ...string) []string {
	e.t.Helper()
	out := make([]string, len(ids))
	for i, id := range ids {
		m := e.status(id)
		out[i] = m["status"].(string)
		if pos, ok := m["queue_position"]; ok {
			out[i] += fmt.Sprintf("#%v", pos)
		}
	}
	return out
}

// download GETs a file URL with optional extra headers. The body is read to
// the end; a read error is returned with what was read.
func (e *env) download(url string, hdr map[string]string) (*http.Response, []byte, error) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(e.t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// job returns the JobInfo of id.
func (e *env) job(id string) sim.JobInfo {
	e.t.Helper()
	for _, j := range e.srv.Jobs() {
		if j.RequestID == id {
			return j
		}
	}
	e.t.Fatalf("job %s not found", id)
	return sim.JobInfo{}
}

// completeJob submits a job and moves the clock until it completed.
func (e *env) completeJob(n int) string {
	e.t.Helper()
	id := e.submit(input(n))
	e.clock.Advance(time.Hour)
	require.Equal(e.t, "completed", e.status(id)["status"])
	return id
}
