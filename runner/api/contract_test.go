package api

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Contract tests: the documentation's own example answers, kept as files
// under testdata/api, go through the client as an httptest server serves
// them. See testdata/api/README.md.

// contractDir holds the fixtures, at the module root.
var contractDir = filepath.Join("..", "..", "testdata", "api")

// contractFile reads one contract fixture.
func contractFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(contractDir, name))
	require.NoError(t, err)
	return string(data)
}

const contractID = "8b1f5f0e-3c1a-4d8e-9a57-2f2d0b6c1e01"

func TestContractSubmit(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusOK, contractFile(t, "submit-200.json")))
	f := setup(t, srv)
	resp, err := f.client.Submit(t.Context(), model, map[string]any{"image": "https://example.com/a.png"}, SubmitOptions{})
	require.NoError(t, err)
	base := "https://model-api.runcomfy.net/v1/requests/" + contractID
	assert.Equal(t, SubmitResponse{RequestID: contractID, StatusURL: base + "/status", ResultURL: base + "/result", CancelURL: base + "/cancel"}, resp)
	assert.Equal(t, "POST /v1/models/pika/pika-2-2/image-to-video", srv.Requests()[0].Method+" "+srv.Requests()[0].URI)
}

func TestContractStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want Status
	}{
		{file: "status-in_queue.json", want: Status{RequestID: contractID, Status: StatusInQueue, QueuePosition: 3}},
		{file: "status-in_progress.json", want: Status{RequestID: contractID, Status: StatusInProgress, QueuePosition: -1}},
		{file: "status-completed.json", want: Status{RequestID: contractID, Status: StatusCompleted, QueuePosition: -1}},
		{file: "status-cancelled.json", want: Status{RequestID: contractID, Status: StatusCancelled, QueuePosition: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			srv := serve(reply(http.StatusOK, contractFile(t, tt.file)))
			f := setup(t, srv)
			got, err := f.client.Status(t.Context(), contractID)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, "GET /v1/requests/"+contractID+"/status", srv.Requests()[0].Method+" "+srv.Requests()[0].URI)
		})
	}
}

func TestContractResult(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		file string
		want Result
	}{
		{file: "result-succeeded.json", want: Result{RequestID: contractID, Status: StatusCompleted,
			Outputs:   []string{"https://files.runcomfy.net/example/a.mp4"},
			CreatedAt: created, FinishedAt: created.Add(90 * time.Second)}},
		{file: "result-in_progress.json", want: Result{RequestID: contractID, Status: StatusInProgress, CreatedAt: created}},
		{file: "result-failed.json", want: Result{RequestID: contractID, Status: StatusFailed, Error: "image could not be fetched",
			CreatedAt: created, FinishedAt: created.Add(4 * time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			srv := serve(reply(http.StatusOK, contractFile(t, tt.file)))
			f := setup(t, srv)
			got, err := f.client.Result(t.Context(), contractID)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestContractCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		wantErr error // nil: the cancel was accepted
	}{
		// The docs' example: its "status" is not the job's new state.
		{file: "cancel-202-cancelled.json"},
		{file: "cancel-202-cancellation_requested.json"},
		{file: "cancel-202-not_cancellable.json", wantErr: ErrNotCancellable},
	}
	for _, tt := range tests {
		for _, code := range []int{http.StatusAccepted, http.StatusOK} {
			t.Run(tt.file+"/"+http.StatusText(code), func(t *testing.T) {
				t.Parallel()
				srv := serve(reply(code, contractFile(t, tt.file)))
				f := setup(t, srv)
				err := f.client.Cancel(t.Context(), contractID)
				if tt.wantErr == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, tt.wantErr)
				}
				assert.Equal(t, 1, srv.Count())
			})
		}
	}
}

// TestContractErrors serves every documented error_code, in every body
// shape, with a 200 and with a 4xx, to every call: the code decides.
func TestContractErrors(t *testing.T) {
	t.Parallel()
	codes := []struct {
		code   int
		status int // a plausible HTTP status for it; the docs name none
		want   error
		msg    string
	}{
		{code: 400001, status: http.StatusBadRequest, want: ErrUnknownModel, msg: "Invalid model_id: pika/pika-9-9/image-to-video"},
		{code: 400002, status: http.StatusBadRequest, want: ErrPaymentRequired, msg: "Insufficient balance"},
		{code: 400004, status: http.StatusBadRequest, want: ErrUnauthorized, msg: "Invalid or expired API token"},
		{code: 403001, status: http.StatusForbidden, want: ErrPermissionDenied, msg: "Permission denied for this request"},
		{code: 404001, status: http.StatusNotFound, want: ErrNotFound, msg: "Request not found"},
	}
	shapes := []string{"error_message", "message_detail", "error_object", "string_code"}
	sentinels := []error{ErrUnknownModel, ErrPaymentRequired, ErrUnauthorized, ErrPermissionDenied, ErrNotFound,
		ErrRejected, ErrNotCancellable, ErrUncertain, ErrUnavailable, ErrBadResponse}
	calls := map[string]func(c *Client, t *testing.T) error{
		opSubmit: func(c *Client, t *testing.T) error {
			_, err := c.Submit(t.Context(), model, map[string]any{"image": "https://example.com/a.png"}, SubmitOptions{})
			return err
		},
		opStatus: func(c *Client, t *testing.T) error { _, err := c.Status(t.Context(), contractID); return err },
		opResult: func(c *Client, t *testing.T) error { _, err := c.Result(t.Context(), contractID); return err },
		opCancel: func(c *Client, t *testing.T) error { return c.Cancel(t.Context(), contractID) },
	}
	for _, cc := range codes {
		for _, shape := range shapes {
			file := filepath.Join("errors", strconv.Itoa(cc.code)+"-"+shape+".json")
			for _, status := range []int{http.StatusOK, cc.status} {
				for op, call := range calls {
					t.Run(file+"/"+strconv.Itoa(status)+"/"+op, func(t *testing.T) {
						t.Parallel()
						srv := serve(reply(status, contractFile(t, file)))
						f := setup(t, srv)
						err := call(f.client, t)
						require.Error(t, err)
						for _, s := range sentinels {
							assert.Equal(t, s == cc.want, errors.Is(err, s), "errors.Is(%v)", s)
						}
						var se *StatusError
						require.ErrorAs(t, err, &se)
						assert.Equal(t, cc.code, se.ErrorCode)
						assert.Equal(t, cc.msg, se.Message)
						assert.Equal(t, op, se.Op)
						assert.Contains(t, se.Error(), "error_code "+strconv.Itoa(cc.code))
						assert.False(t, se.Temporary())
						assert.Equal(t, 1, srv.Count(), "a coded answer is a verdict: never repeated")
					})
				}
			}
		}
	}
}

// TestContractErrorCodeBeatsStatus: a documented code decides even where
// the HTTP status alone would mean something else (retry, uncertain, auth).
func TestContractErrorCodeBeatsStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{name: "400004 on a 400 is the token, not the row", status: http.StatusBadRequest,
			body: `{"error_code":400004,"error_message":"token revoked"}`, want: ErrUnauthorized},
		{name: "403001 on a 403 is that job, not the token", status: http.StatusForbidden,
			body: `{"error_code":403001,"error_message":"not yours"}`, want: ErrPermissionDenied},
		{name: "400002 on a 429 is no balance, not a rate limit", status: http.StatusTooManyRequests,
			body: `{"error_code":"400002","message":"Insufficient balance"}`, want: ErrPaymentRequired},
		{name: "400001 on a 500 is a refusal, not uncertain", status: http.StatusInternalServerError,
			body: `{"error":{"code":400001,"message":"unknown model"}}`, want: ErrUnknownModel},
		{name: "404001 on a 502", status: http.StatusBadGateway,
			body: `{"error_code":404001.0,"detail":"gone"}`, want: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(reply(tt.status, tt.body), reply(http.StatusOK, `{"request_id":"dup"}`))
			f := setup(t, srv)
			_, err := f.client.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
			require.ErrorIs(t, err, tt.want)
			assert.NotErrorIs(t, err, ErrUncertain)
			assert.NotErrorIs(t, err, ErrUnavailable)
			assert.NotErrorIs(t, err, ErrRejected)
			assert.Equal(t, 1, srv.Count())
		})
	}
}
