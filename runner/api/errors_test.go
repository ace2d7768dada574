package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatusErrorClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       StatusError
		temporary bool
		want      error // nil: unwraps to nothing
	}{
		{name: "400", err: StatusError{Code: 400, Op: opSubmit}, want: ErrRejected},
		{name: "422", err: StatusError{Code: 422, Op: opSubmit}, want: ErrRejected},
		{name: "400 load balancer", err: StatusError{Code: 400, Op: opSubmit, Message: "rejected by load balancer"}, want: ErrRejected},
		{name: "401", err: StatusError{Code: 401, Op: opStatus}, want: ErrUnauthorized},
		{name: "403", err: StatusError{Code: 403, Op: opStatus}, want: ErrUnauthorized},
		{name: "402", err: StatusError{Code: 402, Op: opSubmit}, want: ErrPaymentRequired},
		{name: "400 credits", err: StatusError{Code: 400, Op: opSubmit, Message: "Not enough credits"}, want: ErrPaymentRequired},
		{name: "403 funds", err: StatusError{Code: 403, Op: opSubmit, Message: "insufficient funds"}, want: ErrPaymentRequired},
		{name: "429 billing", err: StatusError{Code: 429, Op: opSubmit, Message: "quota exceeded, check your billing"}, want: ErrPaymentRequired},
		{name: "404", err: StatusError{Code: 404, Op: opResult}, want: ErrNotFound},
		{name: "409 cancel", err: StatusError{Code: 409, Op: opCancel}, want: ErrNotCancellable},
		{name: "409 submit", err: StatusError{Code: 409, Op: opSubmit}},
		{name: "422 cancel not queued", err: StatusError{Code: 422, Op: opCancel, Message: "Request is not in queue"}, want: ErrNotCancellable},
		{name: "400 cancel in_progress", err: StatusError{Code: 400, Op: opCancel, Message: "status is IN_PROGRESS"}, want: ErrNotCancellable},
		{name: "400 cancel other", err: StatusError{Code: 400, Op: opCancel, Message: "bad id"}, want: ErrRejected},
		{name: "408", err: StatusError{Code: 408}, temporary: true},
		{name: "429", err: StatusError{Code: 429}, temporary: true},
		{name: "500", err: StatusError{Code: 500}, temporary: true},
		{name: "503 credit service", err: StatusError{Code: 503, Message: "credit service unavailable"}, temporary: true},
		{name: "599", err: StatusError{Code: 599}, temporary: true},
		{name: "418", err: StatusError{Code: 418}},
		{name: "304", err: StatusError{Code: 304}},
		{name: "error_code text", err: StatusError{Code: 200, HTTPStatus: 200, ErrorCodeText: "INSUFFICIENT_BALANCE"}, want: ErrPaymentRequired},
		{name: "error_code other", err: StatusError{Code: 200, HTTPStatus: 200, ErrorCodeText: "MODEL_BUSY"}},
		{name: "413", err: StatusError{Code: 413, Op: opSubmit}, want: ErrRejected},
		// A documented error_code decides whatever the HTTP status.
		{name: "400001 on 400", err: StatusError{Code: 400, ErrorCode: 400001, Op: opSubmit}, want: ErrUnknownModel},
		{name: "400002 on 429", err: StatusError{Code: 429, ErrorCode: 400002, Op: opSubmit}, want: ErrPaymentRequired},
		{name: "400004 on 400", err: StatusError{Code: 400, ErrorCode: 400004, Op: opSubmit}, want: ErrUnauthorized},
		{name: "400004 on 200", err: StatusError{Code: 200, HTTPStatus: 200, ErrorCode: 400004, Op: opStatus}, want: ErrUnauthorized},
		{name: "403001 on 403", err: StatusError{Code: 403, ErrorCode: 403001, Op: opStatus}, want: ErrPermissionDenied},
		{name: "404001 on 503", err: StatusError{Code: 503, ErrorCode: 404001, Op: opResult}, want: ErrNotFound},
		{name: "404001 on cancel 409", err: StatusError{Code: 409, ErrorCode: 404001, Op: opCancel}, want: ErrNotFound},
		// 422001 is a validation error: that request's input, whatever the status.
		{name: "422001 on 422", err: StatusError{Code: 422, ErrorCode: 422001, Op: opSubmit}, want: ErrRejected},
		{name: "422001 on 500", err: StatusError{Code: 500, ErrorCode: 422001, Op: opSubmit}, want: ErrRejected},
		{name: "422001 on 200", err: StatusError{Code: 200, HTTPStatus: 200, ErrorCode: 422001, Op: opSubmit}, want: ErrRejected},
		{name: "422001 on cancel not queued", err: StatusError{Code: 400, ErrorCode: 422001, Op: opCancel, Message: "job already in progress"}, want: ErrNotCancellable},
		// 500001 asks to retry with backoff, whatever the status.
		{name: "500001 on 500", err: StatusError{Code: 500, ErrorCode: 500001, Op: opStatus}, temporary: true},
		{name: "500001 on 400", err: StatusError{Code: 400, ErrorCode: 500001, Op: opResult}, temporary: true},
		{name: "500001 on 200", err: StatusError{Code: 200, HTTPStatus: 200, ErrorCode: 500001, Op: opStatus}, temporary: true},
		{name: "500001 on 400 about billing", err: StatusError{Code: 400, ErrorCode: 500001, Op: opStatus, Message: "billing service error"}, temporary: true},
		{name: "unknown numeric code on 503", err: StatusError{Code: 503, ErrorCode: 500123}, temporary: true},
		{name: "unknown numeric code on 401", err: StatusError{Code: 401, ErrorCode: 401999}, want: ErrUnauthorized},
	}
	sentinels := []error{ErrRejected, ErrUnauthorized, ErrPaymentRequired, ErrNotFound, ErrNotCancellable, ErrUnknownModel, ErrPermissionDenied}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := &tt.err
			assert.Equal(t, tt.temporary, err.Temporary())
			assert.Equal(t, tt.want, err.Unwrap())
			for _, s := range sentinels {
				assert.Equal(t, s == tt.want, errors.Is(err, s), "errors.Is(%v)", s)
			}
		})
	}
}

func TestStatusErrorString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "submit: HTTP 422: image must be a URL", (&StatusError{Code: 422, Op: "submit", Message: "image must be a URL"}).Error())
	assert.Equal(t, "status: HTTP 503 Service Unavailable", (&StatusError{Code: 503, Op: "status"}).Error())
	assert.Equal(t, "HTTP 599", (&StatusError{Code: 599}).Error())
	assert.Equal(t, "submit: HTTP 200 error_code 42: no", (&StatusError{Code: 200, HTTPStatus: 200, Op: "submit", ErrorCode: 42, Message: "no"}).Error())
}

func TestWrapperErrors(t *testing.T) {
	t.Parallel()
	cause := errors.New("EOF")
	u := error(&UncertainError{Err: cause})
	assert.ErrorIs(t, u, ErrUncertain)
	assert.ErrorIs(t, u, cause)
	assert.NotErrorIs(t, u, ErrUnavailable)

	se := &StatusError{Code: 502, Op: "result"}
	un := error(&UnavailableError{Attempts: 3, Err: se})
	assert.ErrorIs(t, un, ErrUnavailable)
	var got *StatusError
	require.ErrorAs(t, un, &got)
	assert.Same(t, se, got)
	assert.NotErrorIs(t, un, ErrUncertain)
}

func TestBodyMessage(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Token: testToken})
	require.NoError(t, err)
	long := strings.Repeat("é", 400) // 800 bytes
	tests := []struct {
		name string
		body string
		want string
	}{
		{name: "error_message", body: `{"error_message":"image must be a URL"}`, want: "image must be a URL"},
		{name: "message", body: `{"message":"Invalid duration"}`, want: "Invalid duration"},
		{name: "detail", body: `{"detail":"Not authenticated"}`, want: "Not authenticated"},
		{name: "detail list", body: `{"detail":[{"loc":["body"],"msg":"field required","type":"missing"}]}`, want: "field required"},
		{name: "error string", body: `{"error":"quota exceeded"}`, want: "quota exceeded"},
		{name: "error object", body: `{"error":{"code":"bad_input","message":"seed must be an integer"}}`, want: "seed must be an integer"},
		{name: "error object, nested", body: `{"error":{"error":{"message":"deep"}}}`, want: "deep"},
		{name: "order", body: `{"error":"e","detail":"d","message":"m","error_message":"em"}`, want: "em"},
		{name: "empty fields skipped", body: `{"error_message":"","message":null,"detail":"d"}`, want: "d"},
		{name: "JSON without a message", body: `{"code":7}`, want: `{"code":7}`},
		{name: "plain text", body: "  upstream connect error\n", want: "upstream connect error"},
		{name: "html", body: "<html><body>502 Bad Gateway</body></html>", want: "<html><body>502 Bad Gateway</body></html>"},
		{name: "empty", body: "", want: ""},
		{name: "control characters", body: "bad\x1b[31m input\r\n\tnow", want: "bad [31m input now"},
		{name: "long text capped", body: long, want: strings.Repeat("é", 248) + "…"},
		{name: "token removed", body: `{"message":"token ` + string(testToken) + ` revoked"}`, want: "token [redacted] revoked"},
		{name: "token removed from text", body: "Authorization: Bearer " + string(testToken), want: "Authorization: Bearer [redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := c.bodyMessage([]byte(tt.body))
			assert.Equal(t, tt.want, got)
			assert.LessOrEqual(t, len(got), maxMessageText)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-1", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999999999999999", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(1000 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, parseRetryAfter(tt.in, now), "%q", tt.in)
	}
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		n    int
		text string
	}{
		{body: `{"error_code":400004}`, n: 400004},
		{body: `{"error_code":"400002"}`, n: 400002},
		{body: `{"error_code":" 404001 "}`, n: 404001},
		{body: `{"error_code":403001.0}`, n: 403001},
		{body: `{"error_code":"INSUFFICIENT_BALANCE"}`, text: "INSUFFICIENT_BALANCE"},
		{body: `{"error":{"code":400001,"message":"m"}}`, n: 400001},
		{body: `{"error":{"code":"400004"}}`, n: 400004},
		{body: `{"error":{"error_code":404001}}`, n: 404001},
		{body: `{"error_code":400004,"error":{"code":404001}}`, n: 400004},
		{body: `{"error":"a string"}`},
		{body: `{"error_code":null}`},
		{body: `{"error_code":""}`},
		{body: `{"error_code":0}`},
		{body: `{"error_code":"0"}`},
		{body: `{"error_code":false}`},
		{body: `{"error_code":{"x":1}}`},
		{body: `{"error_code":-5}`, text: "-5"},
		{body: `{"error_code":1e30}`, text: "1e30"},
		{body: `{}`},
	}
	for _, tt := range tests {
		f, err := decodeObject([]byte(tt.body))
		require.NoError(t, err)
		n, text := f.errorCode()
		assert.Equal(t, tt.n, n, tt.body)
		assert.Equal(t, tt.text, text, tt.body)
	}
}

// bodyMessage is the API's message in an error body, else its text.
func (c *Client) bodyMessage(data []byte) string { return c.errorBody(data).Message }
