package inputs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pikabatch/pikabatch/runner/api"
)

// API is the job API the runner submits through; the runner declares the
// same methods, so a Sender's API goes where the client went.
type API interface {
	// Submit creates a paid job. It asks opts.SendGate right before each
	// send and sends nothing if the gate refuses; an error matching
	// api.ErrUncertain means the request was sent and its outcome is
	// unknown.
	Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error)
	// Status is cheap and idempotent.
	Status(ctx context.Context, requestID string) (api.Status, error)
	// Result is idempotent.
	Result(ctx context.Context, requestID string) (api.Result, error)
	// Cancel succeeds only while the job is queued.
	Cancel(ctx context.Context, requestID string) error
}

var _ API = (*api.Client)(nil)

var _ API = sendingAPI{}

// API returns next with each submit's body prepared by s (see Prepare)
// just before it is handed on: for every submit and every re-send, since
// the runner calls Submit for each. The send gate is passed on as it is,
// so next asks it right before the POST leaves. A body s cannot prepare
// is not sent: the error says why (ErrFileChanged and ErrFileMissing wrap
// api.ErrRejected: the row fails, unpaid; a bucket that cannot be reached
// stops the run's submits). The API's messages about a submit or a job are
// scrubbed of pre-signed URLs' signatures and data: URIs' bytes, should
// it quote its input back: the runner records them.
func (s *Sender) API(next API) API { return sendingAPI{API: next, s: s} }

type sendingAPI struct {
	API
	s *Sender
}

func (a sendingAPI) Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error) {
	var body json.RawMessage
	switch v := input.(type) {
	case json.RawMessage:
		body = v
	case []byte:
		body = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return api.SubmitResponse{}, fmt.Errorf("not sent: %w", err)
		}
		body = b
	}
	out, err := a.s.Prepare(ctx, body)
	if err != nil {
		return api.SubmitResponse{}, fmt.Errorf("not sent: %w", err)
	}
	resp, err := a.API.Submit(ctx, model, out, opts)
	return resp, scrubError(err)
}

// Result keeps the signatures and file bytes the API might quote from
// its input out of a failed job's message, which the runner records.
func (a sendingAPI) Result(ctx context.Context, requestID string) (api.Result, error) {
	res, err := a.API.Result(ctx, requestID)
	res.Error = scrubText(res.Error)
	return res, scrubError(err)
}
