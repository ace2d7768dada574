package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
