package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/runner/internal/clocktest"
)

const model = "pika/pika-2-2/image-to-video"

func TestNewBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		base    string
		wantErr error // nil: accepted; errAny: any error
	}{
		{name: "default", base: ""},
		{name: "https", base: "https://model-api.runcomfy.net"},
		{name: "https with prefix", base: "https://proxy.example.com/runcomfy/"},
		{name: "http 127.0.0.1", base: "http://127.0.0.1:8080"},
		{name: "http 127.1.2.3", base: "http://127.1.2.3:8080"},
		{name: "http localhost", base: "http://localhost:8080"},
		{name: "http LOCALHOST", base: "http://LOCALHOST:8080"},
		{name: "http ::1", base: "http://[::1]:8080"},
		{name: "http example.com", base: "http://example.com", wantErr: ErrInsecureBase},
		{name: "http LAN address", base: "http://192.168.1.10:8080", wantErr: ErrInsecureBase},
		{name: "http localhost lookalike", base: "http://localhost.example.com", wantErr: ErrInsecureBase},
		{name: "http 128.0.0.1", base: "http://128.0.0.1", wantErr: ErrInsecureBase},
		{name: "ftp", base: "ftp://model-api.runcomfy.net", wantErr: errAny},
		{name: "no host", base: "https:///v1", wantErr: errAny},
		{name: "relative", base: "model-api.runcomfy.net", wantErr: errAny},
		{name: "credentials", base: "https://user:pw@model-api.runcomfy.net", wantErr: errAny},
		{name: "query", base: "https://model-api.runcomfy.net/?a=b", wantErr: errAny},
		{name: "unparsable", base: "https://[::1", wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(Config{BaseURL: tt.base, Token: testToken})
			switch tt.wantErr {
			case nil:
				require.NoError(t, err)
				c.CloseIdleConnections()
			case errAny:
				require.Error(t, err)
				assert.NotContains(t, err.Error(), "pw")
			default:
				require.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestNewToken(t *testing.T) {
	t.Parallel()
	_, err := New(Config{})
	require.ErrorIs(t, err, ErrNoToken)
	for _, tok := range []Token{"sk-abc\n", "sk abc", "sk-\x00", "sk-é"} {
		_, err := New(Config{Token: tok})
		require.ErrorIs(t, err, ErrInvalidToken, "%q", string(tok))
		assert.NotContains(t, err.Error(), "sk")
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Token: testToken})
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	assert.Equal(t, "https://model-api.runcomfy.net", c.prefix)
	assert.Equal(t, DefaultRequestTimeout, c.timeout)
	assert.Equal(t, DefaultMaxRetries, c.maxRetries)
	assert.Equal(t, DefaultBackoffBase, c.retryWait.Base)
	assert.Equal(t, DefaultBackoffMax, c.retryWait.Max)
	require.NotNil(t, c.hc.CheckRedirect)
	tr, ok := c.hc.Transport.(*http.Transport)
	require.True(t, ok)
	assert.NotZero(t, tr.TLSHandshakeTimeout)
	assert.Equal(t, 64, tr.MaxIdleConnsPerHost)

	c2, err := New(Config{Token: testToken, MaxRetries: -1, HTTPClient: http.DefaultClient})
	require.NoError(t, err)
	assert.Equal(t, 0, c2.maxRetries)
	assert.Nil(t, http.DefaultClient.CheckRedirect, "the caller's client must not be changed")
}

func TestSubmit(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusOK, `{"request_id":"req-1",
		"status_url":"https://model-api.runcomfy.net/v1/requests/req-1/status",
		"result_url":"https://model-api.runcomfy.net/v1/requests/req-1/result",
		"cancel_url":"https://model-api.runcomfy.net/v1/requests/req-1/cancel"}`))
	f := setup(t, srv)

	input := map[string]any{"image": "https://example.com/a.png", "promptText": "a cat, \"surfing\"", "duration": 5, "seed": 42}
	resp, err := f.client.Submit(t.Context(), model, input, SubmitOptions{})
	require.NoError(t, err)
	assert.Equal(t, SubmitResponse{
		RequestID: "req-1",
		StatusURL: "https://model-api.runcomfy.net/v1/requests/req-1/status",
		ResultURL: "https://model-api.runcomfy.net/v1/requests/req-1/result",
		CancelURL: "https://model-api.runcomfy.net/v1/requests/req-1/cancel",
	}, resp)

	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/v1/models/pika/pika-2-2/image-to-video", r.URI)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "application/json", r.Header.Get("Accept"))
	assert.Equal(t, "Bearer "+string(testToken), r.Header.Get("Authorization"))
	assert.Equal(t, "pikabatch/"+Version, r.Header.Get("User-Agent"))
	var got map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &got))
	want, _ := json.Marshal(input)
	assert.JSONEq(t, string(want), string(r.Body))
	assert.Equal(t, Calls{Submit: 1}, f.client.Calls())
}

func TestPaths(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusOK, `{"request_id":"r","status":"in_queue"}`))
	f := setup(t, srv, func(c *Config) { c.BaseURL += "/prefix/" })
	ctx := t.Context()

	_, err := f.client.Submit(ctx, "my org/model v1%/x", map[string]any{}, SubmitOptions{})
	require.NoError(t, err)
	_, err = f.client.Status(ctx, "a/b?c d")
	require.NoError(t, err)
	_, err = f.client.Result(ctx, "id-1")
	require.NoError(t, err)
	require.NoError(t, f.client.Cancel(ctx, "id-1"))

	var uris []string
	for _, r := range srv.Requests() {
		uris = append(uris, r.Method+" "+r.URI)
	}
	assert.Equal(t, []string{
		"POST /prefix/v1/models/my%20org/model%20v1%25/x",
		"GET /prefix/v1/requests/a%2Fb%3Fc%20d/status",
		"GET /prefix/v1/requests/id-1/result?include_cost=true",
		"POST /prefix/v1/requests/id-1/cancel",
	}, uris)

	for _, m := range []string{"", "/pika", "pika/", "pika//x", "pika/../v1/requests/x/cancel", "./x"} {
		_, err := f.client.Submit(ctx, m, nil, SubmitOptions{})
		require.ErrorIs(t, err, ErrInvalidID, "model %q", m)
	}
	for _, id := range []string{"", ".", ".."} {
		_, err := f.client.Status(ctx, id)
		require.ErrorIs(t, err, ErrInvalidID, "id %q", id)
		_, err = f.client.Result(ctx, id)
		require.ErrorIs(t, err, ErrInvalidID, "id %q", id)
		require.ErrorIs(t, f.client.Cancel(ctx, id), ErrInvalidID, "id %q", id)
	}
	assert.Equal(t, 4, srv.Count(), "invalid IDs must not be sent")
}

// TestBaseURLVersion: a base given with or without its trailing /v1 (as
// RunComfy's MCP server is configured) builds the same paths.
func TestBaseURLVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		suffix string
		prefix string // before /v1/... on the wire
	}{
		{suffix: "", prefix: ""},
		{suffix: "/", prefix: ""},
		{suffix: "/v1", prefix: ""},
		{suffix: "/v1/", prefix: ""},
		{suffix: "/proxy", prefix: "/proxy"},
		{suffix: "/proxy/v1", prefix: "/proxy"},
		{suffix: "/v1x", prefix: "/v1x"},
		{suffix: "/v1/v1", prefix: "/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.suffix, func(t *testing.T) {
			t.Parallel()
			srv := serve(reply(http.StatusOK, `{"request_id":"r","status":"in_queue"}`))
			f := setup(t, srv, func(c *Config) { c.BaseURL += tt.suffix })
			_, err := f.client.Submit(t.Context(), model, map[string]any{}, SubmitOptions{})
			require.NoError(t, err)
			_, err = f.client.Status(t.Context(), "r")
			require.NoError(t, err)
			reqs := srv.Requests()
			require.Len(t, reqs, 2)
			assert.Equal(t, tt.prefix+"/v1/models/"+model, reqs[0].URI)
			assert.Equal(t, tt.prefix+"/v1/requests/r/status", reqs[1].URI)
		})
	}
	c, err := New(Config{BaseURL: "https://model-api.runcomfy.net/v1", Token: testToken})
	require.NoError(t, err)
	assert.Equal(t, "https://model-api.runcomfy.net", c.prefix)
}

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    Status
		wantErr error
	}{
		{name: "queued", body: `{"request_id":"r","status":"in_queue","queue_position":3}`,
			want: Status{RequestID: "r", Status: StatusInQueue, QueuePosition: 3}},
		{name: "queue position zero", body: `{"status":"in_queue","queue_position":0}`,
			want: Status{RequestID: "r", Status: StatusInQueue, QueuePosition: 0}},
		{name: "queue position as string", body: `{"status":"in_queue","queue_position":"7"}`,
			want: Status{RequestID: "r", Status: StatusInQueue, QueuePosition: 7}},
		{name: "queue position null", body: `{"status":"in_queue","queue_position":null}`,
			want: Status{RequestID: "r", Status: StatusInQueue, QueuePosition: -1}},
		{name: "running, no position", body: `{"status":"in_progress"}`,
			want: Status{RequestID: "r", Status: StatusInProgress, QueuePosition: -1}},
		{name: "succeeded", body: `{"status":"succeeded"}`,
			want: Status{RequestID: "r", Status: StatusCompleted, QueuePosition: -1}},
		{name: "upper case", body: `{"status":"COMPLETED"}`,
			want: Status{RequestID: "r", Status: StatusCompleted, QueuePosition: -1}},
		{name: "canceled", body: `{"status":"canceled"}`,
			want: Status{RequestID: "r", Status: StatusCancelled, QueuePosition: -1}},
		{name: "failed", body: `{"status":"failed","status_url":"x","result_url":"y"}`,
			want: Status{RequestID: "r", Status: StatusFailed, QueuePosition: -1}},
		{name: "unknown status", body: `{"status":"warming_up"}`,
			want: Status{RequestID: "r", Status: StatusUnknown, Word: "warming_up", QueuePosition: -1}},
		{name: "pending", body: `{"status":"pending","queue_position":4}`,
			want: Status{RequestID: "r", Status: StatusUnknown, Word: "pending", QueuePosition: 4}},
		{name: "token in the word removed", body: `{"status":"Bearer ` + string(testToken) + `"}`,
			want: Status{RequestID: "r", Status: StatusUnknown, Word: "Bearer [redacted]", QueuePosition: -1}},
		{name: "hostile word sanitised and bounded", body: `{"status":"x\u001b[31m` + strings.Repeat("y", 300) + `"}`,
			want: Status{RequestID: "r", Status: StatusUnknown, Word: "x [31m" + strings.Repeat("y", 100-len("x [31m")-len("…")) + "…", QueuePosition: -1}},
		{name: "no status", body: `{"request_id":"r"}`, wantErr: ErrBadResponse},
		{name: "not json", body: `<html>ok</html>`, wantErr: ErrBadResponse},
		{name: "null", body: `null`, wantErr: ErrBadResponse},
		{name: "error_code", body: `{"error_code":"NOT_FOUND","message":"no such request"}`, wantErr: errStatus},
		{name: "documented error_code beside a status", body: `{"status":"in_queue","error_code":403001,"message":"not yours"}`, wantErr: ErrPermissionDenied},
		{name: "other error_code beside a status", body: `{"status":"in_queue","error_code":"W1"}`,
			want: Status{RequestID: "r", Status: StatusInQueue, QueuePosition: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(reply(http.StatusOK, tt.body))
			f := setup(t, srv)
			got, err := f.client.Status(t.Context(), "r")
			switch tt.wantErr {
			case nil:
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			case errStatus:
				var se *StatusError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, "NOT_FOUND", se.ErrorCodeText)
				assert.Equal(t, "no such request", se.Message)
			default:
				require.ErrorIs(t, err, tt.wantErr)
			}
			assert.Equal(t, 1, srv.Count(), "a malformed answer is not retried")
		})
	}
}

var errStatus = errors.New("a *StatusError")

func TestResult(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	finished := time.Date(2026, 3, 1, 10, 1, 30, 500_000_000, time.UTC)
	tests := []struct {
		name string
		body string
		want Result
	}{
		{
			name: "completed video",
			body: `{"request_id":"r","status":"completed","output":{"video":"https://cdn.example.com/x.mp4"},
				"created_at":"2026-03-01T10:00:00Z","finished_at":"2026-03-01T10:01:30.5Z"}`,
			want: Result{RequestID: "r", Status: StatusCompleted, Outputs: []string{"https://cdn.example.com/x.mp4"},
				CreatedAt: created, FinishedAt: finished},
		},
		{
			name: "succeeded",
			body: `{"status":"succeeded","output":{"videos":["https://cdn.example.com/1.mp4","https://cdn.example.com/2.mp4"]}}`,
			want: Result{RequestID: "r", Status: StatusCompleted, Outputs: []string{"https://cdn.example.com/1.mp4", "https://cdn.example.com/2.mp4"}},
		},
		{
			name: "all four keys in order",
			body: `{"status":"completed","output":{
				"images":["https://cdn.example.com/i2.png"],
				"image":"https://cdn.example.com/i1.png",
				"videos":["https://cdn.example.com/v2.mp4","https://cdn.example.com/v1.mp4"],
				"video":"https://cdn.example.com/v1.mp4"}}`,
			want: Result{RequestID: "r", Status: StatusCompleted, Outputs: []string{
				"https://cdn.example.com/v1.mp4", "https://cdn.example.com/v2.mp4",
				"https://cdn.example.com/i1.png", "https://cdn.example.com/i2.png"}},
		},
		{
			name: "url objects, non-URLs dropped",
			body: `{"status":"completed","output":{"video":{"url":"https://cdn.example.com/x.mp4"},
				"images":[{"url":"https://cdn.example.com/a.png"},"file:///etc/passwd","not a url",""]}}`,
			want: Result{RequestID: "r", Status: StatusCompleted, Outputs: []string{"https://cdn.example.com/x.mp4", "https://cdn.example.com/a.png"}},
		},
		{
			name: "unix timestamps",
			body: `{"status":"completed","output":{"video":"https://cdn.example.com/x.mp4"},"created_at":1772359200,"finished_at":1772359290500}`,
			want: Result{RequestID: "r", Status: StatusCompleted, Outputs: []string{"https://cdn.example.com/x.mp4"},
				CreatedAt: created, FinishedAt: finished},
		},
		{
			name: "queued: current status, no outputs",
			body: `{"status":"in_queue","queue_position":2,"output":{"video":"https://cdn.example.com/old.mp4"}}`,
			want: Result{RequestID: "r", Status: StatusInQueue},
		},
		{
			name: "running",
			body: `{"status":"in_progress"}`,
			want: Result{RequestID: "r", Status: StatusInProgress},
		},
		{
			name: "failed with error string",
			body: `{"status":"failed","error":"NSFW content detected"}`,
			want: Result{RequestID: "r", Status: StatusFailed, Error: "NSFW content detected"},
		},
		{
			name: "failed with error object",
			body: `{"status":"failed","error":{"code":"E42","message":"image could not be fetched"}}`,
			want: Result{RequestID: "r", Status: StatusFailed, Error: "image could not be fetched"},
		},
		{
			name: "failed with error_message",
			body: `{"status":"failed","error_message":"out of memory"}`,
			want: Result{RequestID: "r", Status: StatusFailed, Error: "out of memory"},
		},
		{
			name: "failed without a message",
			body: `{"status":"failed"}`,
			want: Result{RequestID: "r", Status: StatusFailed},
		},
		{
			name: "completed without output",
			body: `{"status":"completed","output":{}}`,
			want: Result{RequestID: "r", Status: StatusFailed, Error: "completed without output"},
		},
		{
			name: "completed with null output and an error",
			body: `{"status":"completed","output":null,"error":{"message":"generation timed out"}}`,
			want: Result{RequestID: "r", Status: StatusFailed, Error: "generation timed out"},
		},
		{
			name: "cancelled",
			body: `{"status":"cancelled"}`,
			want: Result{RequestID: "r", Status: StatusCancelled},
		},
		{
			name: "unknown word: no outputs, the word kept",
			body: `{"status":"processing","output":{"video":"https://cdn.example.com/early.mp4"}}`,
			want: Result{RequestID: "r", Status: StatusUnknown, Word: "processing"},
		},
		{
			name: "failed with a code that is not documented",
			body: `{"status":"failed","error":{"code":"E42","message":"NSFW"}}`,
			want: Result{RequestID: "r", Status: StatusFailed, Error: "NSFW"},
		},
		{
			name: "cost as a number",
			body: `{"status":"succeeded","output":{"video":"https://cdn.example.com/x.mp4"},"cost":0.044}`,
			want: Result{RequestID: "r", Status: StatusCompleted, Outputs: []string{"https://cdn.example.com/x.mp4"}, Cost: ptr(0.044)},
		},
		{
			name: "cost as a string",
			body: `{"status":"succeeded","output":{"video":"https://cdn.example.com/x.mp4"},"cost":" 0.1 "}`,
			want: Result{RequestID: "r", Status: StatusCompleted, Outputs: []string{"https://cdn.example.com/x.mp4"}, Cost: ptr(0.1)},
		},
		{
			name: "cost zero is free, not unknown",
			body: `{"status":"failed","cost":0}`,
			want: Result{RequestID: "r", Status: StatusFailed, Cost: ptr(0.0)},
		},
		{
			name: "cost null is unknown",
			body: `{"status":"failed","cost":null}`,
			want: Result{RequestID: "r", Status: StatusFailed},
		},
		{
			name: "cost negative is unknown",
			body: `{"status":"failed","cost":-1}`,
			want: Result{RequestID: "r", Status: StatusFailed},
		},
		{
			name: "cost beyond any job is unknown",
			body: `{"status":"succeeded","output":{"video":"https://cdn.example.com/x.mp4"},"cost":1e308}`,
			want: Result{RequestID: "r", Status: StatusCompleted, Outputs: []string{"https://cdn.example.com/x.mp4"}},
		},
		{
			name: "cost boolean is unknown",
			body: `{"status":"failed","cost":true}`,
			want: Result{RequestID: "r", Status: StatusFailed},
		},
		{
			name: "cost object is unknown",
			body: `{"status":"failed","cost":{"usd":1}}`,
			want: Result{RequestID: "r", Status: StatusFailed},
		},
		{
			name: "cost NaN string is unknown",
			body: `{"status":"failed","cost":"NaN"}`,
			want: Result{RequestID: "r", Status: StatusFailed},
		},
		{
			name: "token echoed in the error is removed",
			body: `{"status":"failed","error":"bad header Bearer ` + string(testToken) + `"}`,
			want: Result{RequestID: "r", Status: StatusFailed, Error: "bad header Bearer [redacted]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(reply(http.StatusOK, tt.body))
			f := setup(t, srv)
			got, err := f.client.Result(t.Context(), "r")
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, "GET /v1/requests/r/result?include_cost=true", srv.Requests()[0].Method+" "+srv.Requests()[0].URI)
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		step    http.HandlerFunc
		wantErr error
	}{
		{name: "ok", step: reply(http.StatusOK, `{"request_id":"r","status":"cancelled"}`)},
		{name: "ok, queued", step: reply(http.StatusOK, `{"status":"in_queue"}`)},
		{name: "no content", step: reply(http.StatusNoContent, ``)},
		{name: "plain text", step: reply(http.StatusOK, `cancelled`)},
		{name: "409", step: reply(http.StatusConflict, `{"detail":"Request is in progress"}`), wantErr: ErrNotCancellable},
		{name: "422 not in queue", step: reply(http.StatusUnprocessableEntity, `{"error":"request is not in queue"}`), wantErr: ErrNotCancellable},
		{name: "400 already running", step: reply(http.StatusBadRequest, `{"message":"Job already running, cannot be cancelled"}`), wantErr: ErrNotCancellable},
		{name: "400 other", step: reply(http.StatusBadRequest, `{"message":"malformed request id"}`), wantErr: ErrRejected},
		{name: "200 running", step: reply(http.StatusOK, `{"status":"in_progress"}`), wantErr: ErrNotCancellable},
		{name: "200 completed", step: reply(http.StatusOK, `{"status":"completed"}`), wantErr: ErrNotCancellable},
		{name: "200 unknown status", step: reply(http.StatusOK, `{"status":"processing"}`), wantErr: ErrNotCancellable},
		{name: "200 cancellation requested", step: reply(http.StatusOK, `{"status":"cancellation_requested"}`)},
		// The outcome decides; the status beside it is not the job's new state.
		{name: "202 documented example", step: reply(http.StatusAccepted, `{"request_id":"r","status":"completed","outcome":"cancelled"}`)},
		{name: "202 outcome canceled", step: reply(http.StatusAccepted, `{"outcome":"Canceled"}`)},
		{name: "202 outcome cancellation requested", step: reply(http.StatusAccepted, `{"outcome":"cancellation_requested"}`)},
		{name: "202 not cancellable, no status", step: reply(http.StatusAccepted, `{"outcome":"not_cancellable"}`), wantErr: ErrNotCancellable},
		{name: "202 not cancellable, queued status", step: reply(http.StatusAccepted, `{"status":"in_queue","outcome":"not_cancellable"}`), wantErr: ErrNotCancellable},
		{name: "202 unknown outcome", step: reply(http.StatusAccepted, `{"status":"cancelled","outcome":"deferred"}`), wantErr: ErrNotCancellable},
		{name: "202 empty", step: reply(http.StatusAccepted, ``)},
		{name: "200 error_code 404001", step: reply(http.StatusOK, `{"error_code":404001,"error_message":"gone"}`), wantErr: ErrNotFound},
		{name: "404", step: reply(http.StatusNotFound, `{"detail":"not found"}`), wantErr: ErrNotFound},
		{name: "401", step: reply(http.StatusUnauthorized, ``), wantErr: ErrUnauthorized},
		// The outcome decides, not the status (the documented example).
		{name: "202 documented example", step: reply(http.StatusAccepted, `{"request_id":"r","status":"completed","outcome":"cancelled"}`)},
		{name: "202 not cancellable", step: reply(http.StatusAccepted, `{"request_id":"r","outcome":"not_cancellable"}`), wantErr: ErrNotCancellable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(tt.step)
			f := setup(t, srv)
			err := f.client.Cancel(t.Context(), "r")
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, "POST /v1/requests/r/cancel", reqs[0].Method+" "+reqs[0].URI)
			assert.Equal(t, int64(1), f.client.Calls().Cancel)
		})
	}
}

func TestStatusErrorsFromServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		step    http.HandlerFunc
		wantErr error
		wantMsg string
	}{
		{name: "400", step: reply(http.StatusBadRequest, `{"error_message":"image must be a URL"}`), wantErr: ErrRejected, wantMsg: "submit: HTTP 400: image must be a URL"},
		{name: "422 fastapi", step: reply(http.StatusUnprocessableEntity, `{"detail":[{"loc":["body","image"],"msg":"field required"},{"msg":"duration must be 5 or 10"}]}`),
			wantErr: ErrRejected, wantMsg: "submit: HTTP 422: field required; duration must be 5 or 10"},
		{name: "401", step: reply(http.StatusUnauthorized, `{"detail":"Invalid API token"}`), wantErr: ErrUnauthorized, wantMsg: "submit: HTTP 401: Invalid API token"},
		{name: "403", step: reply(http.StatusForbidden, ``), wantErr: ErrUnauthorized, wantMsg: "submit: HTTP 403 Forbidden"},
		{name: "402", step: reply(http.StatusPaymentRequired, `{"message":"top up"}`), wantErr: ErrPaymentRequired},
		{name: "403 credits", step: reply(http.StatusForbidden, `{"error":{"message":"Insufficient credits"}}`), wantErr: ErrPaymentRequired},
		{name: "429 balance", step: reply(http.StatusTooManyRequests, `{"message":"insufficient balance"}`), wantErr: ErrPaymentRequired},
		{name: "404", step: reply(http.StatusNotFound, `{"detail":"model not found"}`), wantErr: ErrNotFound},
		{name: "200 error_code", step: reply(http.StatusOK, `{"error_code":"INSUFFICIENT_BALANCE","error_message":"Your balance is too low"}`),
			wantErr: ErrPaymentRequired, wantMsg: "submit: HTTP 200 error_code INSUFFICIENT_BALANCE: Your balance is too low"},
		{name: "200 error_code 401", step: reply(http.StatusOK, `{"error_code":401,"message":"bad token"}`), wantErr: ErrUnauthorized},
		{name: "3xx", step: reply(http.StatusNotModified, ``), wantErr: errStatus},
		{name: "413 body too large", step: reply(http.StatusRequestEntityTooLarge, `<html>413 Request Entity Too Large</html>`),
			wantErr: ErrRejected, wantMsg: "submit: HTTP 413: <html>413 Request Entity Too Large</html>"},
		{name: "400 error_code 400004", step: reply(http.StatusBadRequest, `{"error_code":400004,"error_message":"token revoked"}`),
			wantErr: ErrUnauthorized, wantMsg: "submit: HTTP 400 error_code 400004: token revoked"},
		{name: "200 error_code 400001", step: reply(http.StatusOK, `{"error_code":"400001","message":"unknown model","detail":"x"}`),
			wantErr: ErrUnknownModel, wantMsg: "submit: HTTP 200 error_code 400001: unknown model"},
		{name: "429 error_code 400002", step: reply(http.StatusTooManyRequests, `{"error":{"code":400002,"message":"no balance"}}`),
			wantErr: ErrPaymentRequired},
		{name: "503 error_code 400004", step: reply(http.StatusServiceUnavailable, `{"error_code":400004,"error_message":"inactive account"}`),
			wantErr: ErrUnauthorized},
		{name: "403 error_code 403001", step: reply(http.StatusForbidden, `{"error_code":403001,"error_message":"not yours"}`),
			wantErr: ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(tt.step)
			f := setup(t, srv)
			_, err := f.client.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
			require.Error(t, err)
			if tt.wantErr != errStatus {
				require.ErrorIs(t, err, tt.wantErr)
			}
			var se *StatusError
			require.ErrorAs(t, err, &se)
			assert.NotErrorIs(t, err, ErrUncertain)
			assert.NotErrorIs(t, err, ErrUnavailable)
			if tt.wantMsg != "" {
				assert.EqualError(t, err, tt.wantMsg)
			}
			assert.Equal(t, 1, srv.Count(), "a permanent error is not retried")
			assert.Empty(t, f.sleep.Delays())
		})
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	ok := reply(http.StatusOK, `{"status":"in_progress"}`)
	busy := reply(http.StatusServiceUnavailable, `{"message":"busy"}`)

	t.Run("503 twice then 200", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy, busy, ok)
		f := setup(t, srv)
		st, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, StatusInProgress, st.Status)
		assert.Equal(t, Calls{Status: 3, Retries: 2}, f.client.Calls())
		// Full jitter at 0.5 of 100ms, then of 200ms.
		assert.Equal(t, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}, f.sleep.Delays())
	})

	t.Run("429 with Retry-After", func(t *testing.T) {
		t.Parallel()
		srv := serve(reply(http.StatusTooManyRequests, `{"message":"slow down"}`, "Retry-After", "2"), ok)
		f := setup(t, srv)
		_, err := f.client.Result(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{2 * time.Second}, f.sleep.Delays())
		assert.Equal(t, Calls{Result: 2, Retries: 1, RateLimited: 1, PollsRateLimited: 1}, f.client.Calls())
	})

	t.Run("Retry-After shorter than backoff", func(t *testing.T) {
		t.Parallel()
		srv := serve(reply(http.StatusServiceUnavailable, ``, "Retry-After", "0"), ok)
		f := setup(t, srv)
		_, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{50 * time.Millisecond}, f.sleep.Delays())
	})

	t.Run("408 and 500s", func(t *testing.T) {
		t.Parallel()
		srv := serve(reply(http.StatusRequestTimeout, ``), reply(http.StatusInternalServerError, ``),
			reply(http.StatusBadGateway, ``), reply(http.StatusGatewayTimeout, ``), ok)
		f := setup(t, srv)
		_, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, int64(4), f.client.Calls().Retries)
	})

	t.Run("error_code 500001 on a GET", func(t *testing.T) {
		t.Parallel()
		srv := serve(reply(http.StatusBadRequest, `{"error_code":500001,"error_message":"retry"}`),
			reply(http.StatusOK, `{"error_code":"500001","error_message":"retry"}`), ok)
		f := setup(t, srv)
		st, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, StatusInProgress, st.Status)
		assert.Equal(t, int64(2), f.client.Calls().Retries)
	})

	t.Run("submit retried on 429", func(t *testing.T) {
		t.Parallel()
		limited := reply(http.StatusTooManyRequests, ``)
		srv := serve(limited, limited, reply(http.StatusOK, `{"request_id":"r"}`))
		f := setup(t, srv)
		resp, err := f.client.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
		require.NoError(t, err)
		assert.Equal(t, "r", resp.RequestID)
		assert.Equal(t, Calls{Submit: 3, Retries: 2, RateLimited: 2}, f.client.Calls())
		reqs := srv.Requests()
		assert.Equal(t, reqs[0].Body, reqs[2].Body, "every attempt sends the whole body")
	})

	t.Run("200 with a temporary error_code", func(t *testing.T) {
		t.Parallel()
		srv := serve(reply(http.StatusOK, `{"error_code":503,"message":"overloaded"}`), ok)
		f := setup(t, srv)
		_, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, 2, srv.Count())
	})

	t.Run("body cut off", func(t *testing.T) {
		t.Parallel()
		srv := serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `{"status":`)
		}, ok)
		f := setup(t, srv)
		_, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, 2, srv.Count())
	})

	t.Run("connection dropped", func(t *testing.T) {
		t.Parallel()
		srv := serve(hangup(t), ok)
		f := setup(t, srv)
		_, err := f.client.Result(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, 2, srv.Count())
	})

	t.Run("exhausted", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy)
		f := setup(t, srv, func(c *Config) { c.MaxRetries = 3 })
		clock := clocktest.New(time.Unix(1_800_000_000, 0))
		f.client.now = clock.Now
		f.sleep.hook = func() { clock.Advance(time.Second) }
		_, err := f.client.Status(t.Context(), "r")
		require.ErrorIs(t, err, ErrUnavailable)
		var se *StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, http.StatusServiceUnavailable, se.Code)
		assert.Equal(t, "busy", se.Message)
		var ue *UnavailableError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, 4, ue.Attempts)
		assert.Equal(t, 3*time.Second, ue.Failing, "from the first attempt to the last")
		assert.EqualError(t, err, "API unavailable after 4 attempts: status: HTTP 503: busy")
		assert.Equal(t, 4, srv.Count())
		assert.Equal(t, Calls{Status: 4, Retries: 3}, f.client.Calls())
		assert.Equal(t, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}, f.sleep.Delays())
	})

	t.Run("no retries", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy)
		f := setup(t, srv, func(c *Config) { c.MaxRetries = -1 })
		_, err := f.client.Status(t.Context(), "r")
		require.ErrorIs(t, err, ErrUnavailable)
		assert.Equal(t, 1, srv.Count())
	})

	t.Run("cancelled while backing off", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy)
		f := setup(t, srv)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		f.sleep.hook = cancel
		_, err := f.client.Status(ctx, "r")
		require.ErrorIs(t, err, context.Canceled)
		var se *StatusError
		require.ErrorAs(t, err, &se, "the last error is kept")
		assert.NotErrorIs(t, err, ErrUnavailable)
		assert.Equal(t, 1, srv.Count())
		assert.Zero(t, f.client.Calls().Retries)
	})
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Token: testToken, BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second,
		Rand: func() float64 { return 0.999999 }})
	require.NoError(t, err)
	near := func(want time.Duration, n int) {
		t.Helper()
		assert.InDelta(t, want, c.backoff(n, nil), float64(time.Millisecond), "retry %d", n)
	}
	near(100*time.Millisecond, 0)
	near(200*time.Millisecond, 1)
	near(800*time.Millisecond, 3)
	near(time.Second, 4)
	near(time.Second, 1000) // no overflow

	late := &StatusError{Code: http.StatusTooManyRequests, RetryAfter: 5 * time.Second}
	assert.Equal(t, 5*time.Second, c.backoff(0, fmt.Errorf("wrapped: %w", late)))

	zero, err := New(Config{Token: testToken, Rand: func() float64 { return 0 }})
	require.NoError(t, err)
	assert.Zero(t, zero.backoff(3, nil), "full jitter reaches zero")
	bad, err := New(Config{Token: testToken, Rand: func() float64 { return 7 }})
	require.NoError(t, err)
	assert.Zero(t, bad.backoff(3, nil), "an out-of-range Rand is ignored")
}

func TestSubmitUncertain(t *testing.T) {
	t.Parallel()
	received := make(chan struct{}) // "no answer in time": the server has the submit
	var receivedOnce sync.Once
	tests := []struct {
		name string
		step func(t *testing.T) http.HandlerFunc
		opts func(*Config)
	}{
		{name: "connection dropped after the body was read", step: hangup},
		{name: "200 not JSON", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusOK, `<html>ok</html>`) }},
		{name: "200 without request_id", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusOK, `{"status":"in_queue"}`) }},
		{name: "202 empty", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusAccepted, ``) }},
		// A gateway may give up after the API created the job.
		{name: "500", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusInternalServerError, `{"message":"oops"}`) }},
		{name: "502", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusBadGateway, `<html>bad gateway</html>`) }},
		{name: "503 with Retry-After", step: func(*testing.T) http.HandlerFunc {
			return reply(http.StatusServiceUnavailable, ``, "Retry-After", "1")
		}},
		{name: "504", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusGatewayTimeout, ``) }},
		{name: "408", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusRequestTimeout, ``) }},
		{name: "200 with a 5xx error_code", step: func(*testing.T) http.HandlerFunc {
			return reply(http.StatusOK, `{"error_code":503,"message":"overloaded"}`)
		}},
		// The API's code for "retry with backoff" says nothing of whether the
		// job was created: on a submit that is not known.
		{name: "400 with error_code 500001", step: func(*testing.T) http.HandlerFunc {
			return reply(http.StatusBadRequest, `{"error_code":500001,"error_message":"internal error, retry with backoff"}`)
		}},
		{name: "200 with error_code 500001", step: func(*testing.T) http.HandlerFunc {
			return reply(http.StatusOK, `{"error_code":500001,"error_message":"internal error"}`)
		}},
		{name: "200 body cut off", step: func(*testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, `{"request_id":`)
			}
		}},
		{
			name: "no answer in time",
			step: func(*testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					receivedOnce.Do(func() { close(received) })
					<-r.Context().Done()
				}
			},
			// The timeout takes effect once the server has the submit: on a
			// loaded machine 50 ms could pass before the request was even
			// written, and the client rightly re-sent it.
			opts: func(c *Config) {
				c.RequestTimeout = 50 * time.Millisecond
				c.HTTPClient = &http.Client{Transport: &heldTimeout{received: received}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(tt.step(t), reply(http.StatusOK, `{"request_id":"dup"}`))
			opts := []func(*Config){}
			if tt.opts != nil {
				opts = append(opts, tt.opts)
			}
			f := setup(t, srv, opts...)
			resp, err := f.client.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
			require.ErrorIs(t, err, ErrUncertain)
			var ue *UncertainError
			require.ErrorAs(t, err, &ue)
			assert.Zero(t, resp)
			assert.NotErrorIs(t, err, ErrUnavailable)
			assert.Equal(t, 1, srv.Count(), "an uncertain submit is never re-sent")
			assert.Equal(t, Calls{Submit: 1}, f.client.Calls())
			assert.Empty(t, f.sleep.Delays())
		})
	}
}

// heldTimeout is a transport on which a request's deadline takes effect only
// once the request was written and the server has it (received is closed):
// the answer, not the send, is what comes too late.
type heldTimeout struct {
	received <-chan struct{}
	tr       http.Transport
}

func (h *heldTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	// The request goes out under a context of its own, with the client's
	// trace: its WroteRequest tells the client the request left.
	wrote := make(chan struct{})
	trace := httptrace.ClientTrace{}
	if ct := httptrace.ContextClientTrace(req.Context()); ct != nil {
		trace = *ct
	}
	clientWrote := trace.WroteRequest
	trace.WroteRequest = func(info httptrace.WroteRequestInfo) {
		if clientWrote != nil {
			clientWrote(info)
		}
		if info.Err == nil {
			close(wrote)
		}
	}
	ctx, cancel := context.WithCancel(httptrace.WithClientTrace(context.Background(), &trace))
	defer cancel()
	type answer struct {
		resp *http.Response
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := h.tr.RoundTrip(req.WithContext(ctx))
		answered <- answer{resp, err}
	}()
	for _, ch := range []<-chan struct{}{wrote, h.received, req.Context().Done()} {
		select {
		case <-ch:
		case a := <-answered:
			return a.resp, a.err
		}
	}
	cancel()
	if a := <-answered; a.resp != nil {
		_ = a.resp.Body.Close()
	}
	return nil, req.Context().Err()
}

func (h *heldTimeout) CloseIdleConnections() { h.tr.CloseIdleConnections() }

func TestSubmitCancelledAfterSending(t *testing.T) {
	t.Parallel()
	received := make(chan struct{})
	srv := serve(func(w http.ResponseWriter, r *http.Request) {
		close(received)
		<-r.Context().Done()
	})
	// No answer ever comes: the grace after the stop runs out.
	f := setup(t, srv, func(c *Config) { c.SubmitGrace = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		<-received
		cancel()
	}()
	_, err := f.client.Submit(ctx, model, map[string]any{"image": "x"}, SubmitOptions{})
	require.ErrorIs(t, err, ErrUncertain)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, srv.Count())
}

// TestSubmitStopOnTheWire: a stop that comes once the submit is on the wire
// does not cut it short: the job the API created has its request ID
// returned (a stop must not lose a paid job).
func TestSubmitStopOnTheWire(t *testing.T) {
	t.Parallel()
	received, stopSeen, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	srv := serve(func(w http.ResponseWriter, r *http.Request) {
		close(received)
		select {
		case <-release: // answers only after the client saw the stop
		case <-r.Context().Done():
			return // the client gave up on the request
		}
		reply(http.StatusOK, `{"request_id":"late"}`)(w, r)
	})
	f := setup(t, srv)
	f.client.stopSeen = func() { close(stopSeen) }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		<-received
		cancel()
		<-stopSeen
		close(release)
	}()
	resp, err := f.client.Submit(ctx, model, map[string]any{"image": "x"}, SubmitOptions{})
	require.NoError(t, err)
	assert.Equal(t, "late", resp.RequestID)
	assert.Equal(t, 1, srv.Count())
}

// TestSubmitStopWhileWaitingForAToken: a stop ends a submit still waiting
// for the rate limiter at once, unsent: it was never paid for.
func TestSubmitStopWhileWaitingForAToken(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusOK, `{"request_id":"r"}`))
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	require.True(t, lim.Allow(), "the only token is gone: the next wait is an hour")
	f := setup(t, srv, func(c *Config) { c.Limiter = lim; c.FixedRate = true })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := f.client.Submit(ctx, model, map[string]any{"image": "x"}, SubmitOptions{})
		done <- err
	}()
	// The waiting submit has reserved the next token.
	require.Eventually(t, func() bool { return lim.Tokens() < -0.5 }, time.Minute, time.Millisecond)
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Submit still waits for a token after the stop")
	}
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrUncertain)
	assert.Zero(t, srv.Count(), "nothing was sent")
	assert.Zero(t, f.client.Calls().Submit)
}

// TestSubmitStopJustBeforeSending: a stop that comes as the transport looks
// for a connection sends nothing, and is not uncertain, even when an idle
// connection is ready (the transport may pick it over the stop).
func TestSubmitStopJustBeforeSending(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusOK, `{"request_id":"r","status":"in_queue"}`))
	f := setup(t, srv)
	var stopSeen chan struct{}
	f.client.stopSeen = func() { close(stopSeen) }
	for i := range 40 {
		_, err := f.client.Status(t.Context(), "r") // leaves an idle connection
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		stopSeen = make(chan struct{})
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GetConn: func(string) {
			cancel()
			<-stopSeen // the client has seen the stop
		}})
		_, err = f.client.Submit(ctx, model, map[string]any{"image": "x"}, SubmitOptions{})
		cancel()
		require.ErrorIs(t, err, context.Canceled, "try %d", i)
		require.NotErrorIs(t, err, ErrUncertain, "try %d: nothing was written", i)
	}
	for _, r := range srv.Requests() {
		require.Equal(t, http.MethodGet, r.Method, "no submit reached the server")
	}
}

func TestSubmitCancelledBeforeSending(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusOK, `{"request_id":"r"}`))
	f := setup(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := f.client.Submit(ctx, model, map[string]any{"image": "x"}, SubmitOptions{})
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrUncertain)
	assert.Zero(t, srv.Count())
	assert.Zero(t, f.client.Calls().Submit)
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestSubmitNotListening(t *testing.T) {
	t.Parallel()
	sl := &sleeper{}
	c, err := New(Config{BaseURL: "http://" + closedAddr(t), Token: testToken, Sleep: sl.Sleep, MaxRetries: 2, Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)

	_, err = c.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
	require.ErrorIs(t, err, ErrUnavailable)
	assert.NotErrorIs(t, err, ErrUncertain, "a refused connection cannot have created a job")
	var opErr *net.OpError
	assert.ErrorAs(t, err, &opErr)
	assert.Equal(t, Calls{Submit: 3, Retries: 2}, c.Calls())
	assert.Len(t, sl.Delays(), 2)
}

func TestRedirects(t *testing.T) {
	t.Parallel()

	t.Run("to another origin", func(t *testing.T) {
		t.Parallel()
		other := serve(reply(http.StatusOK, `{"request_id":"stolen","status":"completed"}`))
		otherSrv := httptest.NewServer(other)
		t.Cleanup(otherSrv.Close)
		for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			srv := serve(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, otherSrv.URL+r.URL.Path, code)
			})
			f := setup(t, srv)
			_, err := f.client.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
			require.ErrorIs(t, err, ErrRedirect, "code %d", code)
			assert.NotErrorIs(t, err, ErrUncertain)
			_, err = f.client.Status(t.Context(), "r")
			require.ErrorIs(t, err, ErrRedirect, "code %d", code)
			assert.Equal(t, 2, srv.Count(), "a refused redirect is not retried")
		}
		assert.Zero(t, other.Count(), "the other origin must see no request, let alone the token")
	})

	t.Run("same origin keeps the token", func(t *testing.T) {
		t.Parallel()
		srv := serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/v1/requests/r2/status", http.StatusFound)
		}, reply(http.StatusOK, `{"status":"in_queue"}`))
		f := setup(t, srv)
		_, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		reqs := srv.Requests()
		require.Len(t, reqs, 2)
		assert.Equal(t, "Bearer "+string(testToken), reqs[1].Header.Get("Authorization"))
	})

	t.Run("POST turned into GET", func(t *testing.T) {
		t.Parallel()
		srv := serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusSeeOther)
		}, reply(http.StatusOK, `{}`))
		f := setup(t, srv)
		_, err := f.client.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
		require.ErrorIs(t, err, ErrRedirect)
		assert.NotErrorIs(t, err, ErrUncertain)
		assert.Equal(t, 1, srv.Count())
	})
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	busy := reply(http.StatusServiceUnavailable, ``)
	ok := reply(http.StatusOK, `{"status":"in_queue"}`)
	// A limiter with no refill holds exactly burst tokens, so the server's
	// count shows how many waits let a request through. With a deadline on
	// ctx, a wait for a token that never comes fails at once.
	withDeadline := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("every retry waits", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy)
		f := setup(t, srv, func(c *Config) { c.Limiter = rate.NewLimiter(0, 3); c.MaxRetries = 10 })
		ctx := withDeadline(t)
		_, err := f.client.Status(ctx, "r")
		require.ErrorContains(t, err, "rate limiter")
		var se *StatusError
		require.ErrorAs(t, err, &se, "the last answer is kept")
		assert.Equal(t, 3, srv.Count())
		assert.Equal(t, int64(3), f.client.Calls().Status)
	})

	t.Run("every call waits", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy, busy, ok)
		f := setup(t, srv, func(c *Config) { c.Limiter = rate.NewLimiter(0, 3) })
		ctx := withDeadline(t)
		_, err := f.client.Status(ctx, "r")
		require.NoError(t, err)
		_, err = f.client.Submit(ctx, model, map[string]any{}, SubmitOptions{})
		require.ErrorContains(t, err, "rate limiter")
		assert.NotErrorIs(t, err, ErrUncertain)
		assert.Equal(t, 3, srv.Count())
	})

	t.Run("redirects wait", func(t *testing.T) {
		t.Parallel()
		srv := serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/v1/requests/r2/status", http.StatusFound)
		}, ok)
		f := setup(t, srv, func(c *Config) { c.Limiter = rate.NewLimiter(0, 2) })
		ctx := withDeadline(t)
		_, err := f.client.Status(ctx, "r")
		require.NoError(t, err)
		_, err = f.client.Status(ctx, "r")
		require.ErrorContains(t, err, "rate limiter")
		assert.Equal(t, 2, srv.Count())
	})
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusServiceUnavailable, ``), reply(http.StatusOK, `{"status":"in_progress"}`))
	f := setup(t, srv)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := f.client.Status(t.Context(), fmt.Sprintf("r%d", i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	calls := f.client.Calls()
	assert.Equal(t, int64(n+1), calls.Status)
	assert.Equal(t, int64(1), calls.Retries)
}
