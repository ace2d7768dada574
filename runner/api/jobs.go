package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Submit creates a job: it POSTs input, marshalled to JSON, to
// /v1/models/{model}. Each accepted submit is a paid generation, and the API
// has no idempotency key, so Submit repeats a request only when the API
// provably created nothing:
//
//   - a 429 (the API refused the job; the caller's SubmitHold, if any, is
//     asked what it means), waiting out its Retry-After;
//   - a request that never left in full: a dial, TLS or write error.
//
// A 5xx or 408, a timeout or cut connection after the body was written, an
// unreadable 2xx and a 2xx without request_id are uncertain: the job may
// exist. Submit returns an *UncertainError (errors.Is(err, ErrUncertain))
// and never retries it; the caller decides. An answer with an error_code is
// a refusal, whatever its HTTP status: a *StatusError matching the code's
// sentinel (ErrUnknownModel, ErrPaymentRequired, ErrUnauthorized…), as is
// any other 4xx (413 and 400/422 without a code match ErrRejected). A 2xx
// with a request_id is accepted even if it also has an error_code, because
// the job exists. Any error but an UncertainError means no job was created.
//
// ctx bounds everything before the request goes out: the limiter's wait,
// opts' send gate, backoff and holds. Once the request is
// going out, a ctx that ends no longer cuts it short: Submit waits up to
// Config.SubmitGrace more for the answer, so that a created job's request ID
// is returned rather than lost; past that it returns an *UncertainError that
// also matches ctx's error.
func (c *Client) Submit(ctx context.Context, model string, input any, opts SubmitOptions) (SubmitResponse, error) {
	path, err := modelPath(model)
	if err != nil {
		return SubmitResponse{}, fmt.Errorf("submit: %w", err)
	}
	body, err := json.Marshal(input)
	if err != nil {
		return SubmitResponse{}, fmt.Errorf("submit: encode input: %w", err)
	}
	var out SubmitResponse
	err = c.exec(ctx, call{op: opSubmit, method: http.MethodPost, url: c.prefix + "/v1/models/" + path, body: body, model: model, submit: opts},
		func(data []byte) error {
			f, err := decodeObject(data)
			if err != nil {
				return fmt.Errorf("submit: %w: %w", ErrBadResponse, err)
			}
			out = SubmitResponse{
				RequestID: strings.TrimSpace(f.str("request_id")),
				StatusURL: f.str("status_url"),
				ResultURL: f.str("result_url"),
				CancelURL: f.str("cancel_url"),
			}
			if out.RequestID != "" {
				if f.hasErrorCode() {
					c.log.Warn("submit accepted with an error_code; keeping its request ID", "op", opSubmit, "request_id", out.RequestID,
						"err", c.errorCodeError(opSubmit, f))
				}
				return nil
			}
			if f.hasErrorCode() {
				return c.errorCodeError(opSubmit, f)
			}
			return fmt.Errorf("submit: %w: no request_id", ErrBadResponse)
		})
	if err != nil {
		return SubmitResponse{}, err
	}
	c.log.Debug("job submitted", "op", opSubmit, "model", model, "request_id", out.RequestID)
	return out, nil
}

// decodeState reads the status of a status or result body, or the error of
// an error_code body. A documented error_code decides even beside a status;
// an unknown status word is StatusUnknown, not an error.
func (c *Client) decodeState(op string, data []byte) (fields, string, string, error) {
	f, err := decodeObject(data)
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: %w: %w", op, ErrBadResponse, err)
	}
	if n, _ := f.errorCode(); codeSentinels[n] != nil {
		return nil, "", "", c.errorCodeError(op, f)
	}
	raw := f.str("status")
	if strings.TrimSpace(raw) == "" {
		if f.hasErrorCode() {
			return nil, "", "", c.errorCodeError(op, f)
		}
		return nil, "", "", fmt.Errorf("%s: %w: no status", op, ErrBadResponse)
	}
	st := normaliseStatus(raw)
	if st != StatusUnknown {
		return f, st, "", nil
	}
	// Guessing what an unknown word means could end a running job's
	// tracking (or bill it twice): the caller keeps looking instead, and
	// may say which word it saw.
	word := c.clean(raw, maxWordText)
	c.log.Debug("unknown status word", "op", op, "word", word)
	return f, st, word, nil
}

// Status reads a job's state: GET /v1/requests/{id}/status. It is idempotent
// and retried on network errors, 408, 429 and 5xx. A status word the client
// does not know reads as StatusUnknown, with the word in Status.Word. An
// unknown, deleted or expired ID gives ErrNotFound; another account's,
// ErrPermissionDenied.
func (c *Client) Status(ctx context.Context, requestID string) (Status, error) {
	u, err := c.requestURL(opStatus, requestID, "status")
	if err != nil {
		return Status{}, err
	}
	var out Status
	err = c.exec(ctx, call{op: opStatus, method: http.MethodGet, url: u, requestID: requestID}, func(data []byte) error {
		f, st, word, err := c.decodeState(opStatus, data)
		if err != nil {
			return err
		}
		out = Status{RequestID: requestID, Status: st, Word: word, QueuePosition: f.queuePosition()}
		return nil
	})
	if err != nil {
		return Status{}, err
	}
	return out, nil
}

// Result reads a job's outcome: GET /v1/requests/{id}/result. It is idempotent
// and retried like Status, and reads status words like it ("succeeded" is
// StatusCompleted). Before the job finishes it reports the current status
// with no Outputs. A job that completed without output reads as
// StatusFailed, with the API's message or "completed without output".
func (c *Client) Result(ctx context.Context, requestID string) (Result, error) {
	u, err := c.requestURL(opResult, requestID, "result")
	if err != nil {
		return Result{}, err
	}
	// RunComfy's partner nodes ask for the job's cost this way; an API that
	// ignores the parameter answers as before.
	u += "?include_cost=true"
	var out Result
	err = c.exec(ctx, call{op: opResult, method: http.MethodGet, url: u, requestID: requestID}, func(data []byte) error {
		f, st, word, err := c.decodeState(opResult, data)
		if err != nil {
			return err
		}
		out = Result{
			RequestID:  requestID,
			Status:     st,
			Word:       word,
			CreatedAt:  parseTime(f["created_at"]),
			FinishedAt: parseTime(f["finished_at"]),
		}
		// A cost above what any job costs is no figure to sum: the job
		// counts at its estimate, as one without a reported cost.
		if cost, ok := amount(f["cost"]); ok && cost <= MaxCostUSD {
			out.Cost = &cost
		}
		msg := c.clean(message(f, resultMessageKeys), maxMessageText)
		switch st {
		case StatusCompleted:
			out.Outputs = outputURLs(f["output"])
			if len(out.Outputs) == 0 {
				out.Status = StatusFailed
				out.Error = msg
				if out.Error == "" {
					out.Error = "completed without output"
				}
			}
		case StatusFailed, StatusCancelled:
			out.Error = msg
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return out, nil
}

// Cancel asks the API to cancel a job: POST /v1/requests/{id}/cancel. nil
// means the API accepted the cancel: the answer's outcome is "cancelled"
// (or "cancellation_requested"), or, without an outcome, its status is
// in_queue, cancelled or cancellation_requested, or it has neither (a bare
// 2xx). The answer's status is not the job's new state: the documented
// {"status":"completed","outcome":"cancelled"} is accepted.
// ErrNotCancellable means it was not: outcome "not_cancellable" or a word
// the client does not know, a status of a running or finished job without
// an outcome, 409, or a 400/422 saying so. Such a job goes on and is
// billed: keep polling it and collect its output. Repeating a cancel is
// harmless, so it is retried like Status.
func (c *Client) Cancel(ctx context.Context, requestID string) error {
	u, err := c.requestURL(opCancel, requestID, "cancel")
	if err != nil {
		return err
	}
	return c.exec(ctx, call{op: opCancel, method: http.MethodPost, url: u, requestID: requestID}, func(data []byte) error {
		f, err := decodeObject(data)
		if err != nil {
			return nil // an empty or non-JSON 2xx is still a yes
		}
		if f.hasErrorCode() {
			return c.errorCodeError(opCancel, f)
		}
		if raw := f.str("outcome"); strings.TrimSpace(raw) != "" {
			switch strings.ToLower(strings.TrimSpace(raw)) {
			case "cancelled", "canceled", "cancellation_requested":
				return nil
			}
			// "not_cancellable", or a word that does not say yes: the job
			// may still run, so it must not be recorded cancelled.
			return fmt.Errorf("cancel: outcome %q: %w", c.clean(raw, maxWordText), ErrNotCancellable)
		}
		raw := f.str("status")
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "", StatusInQueue, StatusCancelled, "canceled", "cancellation_requested":
			return nil
		}
		return fmt.Errorf("cancel: job is %q: %w", c.clean(raw, maxWordText), ErrNotCancellable)
	})
}
