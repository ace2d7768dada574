package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxBodyBytes bounds a submit body; an input is a few hundred bytes.
const maxBodyBytes = 1 << 20

// maxPromptChars is the schema's limit on promptText.
const maxPromptChars = 2000

// Error messages of the API.
const (
	msgUnauthorized    = "invalid or missing API token"
	msgNotFound        = "request not found"
	msgNotInQueue      = "request is not in queue"
	msgRateLimited     = "rate limit exceeded"
	msgTooManyRequests = "too many concurrent requests"
	msgNoCredits       = "insufficient credits"
)

// route names an API endpoint for counting.
type route int

const (
	routeOther route = iota
	routeSubmit
	routeStatus
	routeResult
	routeCancel
)

func (s *Server) apiRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/models/{model...}", s.guard(routeSubmit, s.handleSubmit))
	mux.Handle("GET /v1/requests/{id}/status", s.guard(routeStatus, s.handleStatus))
	mux.Handle("GET /v1/requests/{id}/result", s.guard(routeResult, s.handleResult))
	mux.Handle("POST /v1/requests/{id}/cancel", s.guard(routeCancel, s.handleCancel))
	mux.Handle("/", s.guard(routeOther, func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	}))
	mux.HandleFunc("GET /_sim/counters", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Counters())
	})
	return mux
}

// verdict is what guard decided for a request before its handler runs.
type verdict struct {
	code       int // 0: pass to the handler
	msg        string
	retryAfter string
	drop       bool
}

// guard wraps an API handler with what happens before it: counting, dropped
// connections, auth, the rate limit and injected 429s and 5xx.
func (s *Server) guard(rt route, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := s.admit(rt, s.authorized(r))
		switch {
		case v.drop:
			drain(r)
			s.cfg.Logger.Debug("sim dropped connection", "method", r.Method, "path", r.URL.Path)
			abort(w, false)
		case v.code != 0:
			if v.retryAfter != "" {
				w.Header().Set("Retry-After", v.retryAfter)
			}
			if v.code != http.StatusUnauthorized {
				s.cfg.Logger.Debug("sim injected error", "method", r.Method, "path", r.URL.Path, "code", v.code)
			}
			writeError(w, v.code, v.msg)
		default:
			h(w, r)
		}
	})
}

func (s *Server) admit(rt route, authOK bool) verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, f := &s.c, &s.cfg.Faults
	c.Requests++
	switch rt {
	case routeStatus:
		c.StatusCalls++
	case routeResult:
		c.ResultCalls++
	case routeCancel:
		c.CancelCalls++
	}
	if s.chance(f.RateDrop) {
		c.Dropped++
		return verdict{drop: true}
	}
	var v verdict
	if !authOK {
		c.Unauthorized++
		v = verdict{code: http.StatusUnauthorized, msg: msgUnauthorized}
	} else if wait, ok := s.limiter.take(s.clock()); !ok {
		c.RateLimited++
		v = verdict{code: http.StatusTooManyRequests, msg: msgRateLimited, retryAfter: retryAfterValue(wait)}
	} else if s.chance(f.Rate429) {
		c.RateLimited++
		v = verdict{code: http.StatusTooManyRequests, msg: msgRateLimited, retryAfter: retryAfterValue(f.RetryAfter)}
	} else if s.chance(f.Rate5xx) {
		c.ServerErrors++
		codes := [...]int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
		code := codes[s.reqRand.IntN(len(codes))]
		v = verdict{code: code, msg: strings.ToLower(http.StatusText(code))}
	}
	if rt == routeSubmit && v.code >= 400 && v.code < 500 {
		c.SubmitsRejected++
	}
	return v
}

// submitResponse is the answer to an accepted submit.
type submitResponse struct {
	RequestID string `json:"request_id"`
	StatusURL string `json:"status_url"`
	ResultURL string `json:"result_url"`
	CancelURL string `json:"cancel_url"`
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	if model := r.PathValue("model"); model != s.cfg.Model {
		drain(r)
		s.rejectSubmit(w, http.StatusNotFound, "model not found: "+model)
		return
	}
	input, duration, code, msg := parseInput(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if code != 0 {
		s.rejectSubmit(w, code, msg)
		return
	}

	s.mu.Lock()
	now := s.clock()
	s.advance(now)
	if s.chance(s.cfg.Faults.Rate402) {
		s.c.SubmitsRejected++
		s.mu.Unlock()
		writeError(w, http.StatusPaymentRequired, msgNoCredits)
		return
	}
	if limit := s.cfg.MaxConcurrentSubmits; limit > 0 && s.acct.queued+s.acct.busy() >= limit {
		s.c.SubmitsRejected++
		s.c.RateLimited++
		s.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, msgTooManyRequests)
		return
	}
	j := s.newJob(now, input, duration)
	lost := s.chance(s.cfg.Faults.RateLostResponse)
	if lost {
		s.c.LostResponses++
	}
	s.mu.Unlock()

	if lost {
		s.cfg.Logger.Debug("sim lost submit response", "request_id", j.id)
		abort(w, false)
		return
	}
	base := hostBase(r) + "/v1/requests/" + j.id
	writeJSON(w, http.StatusOK, submitResponse{
		RequestID: j.id,
		StatusURL: base + "/status",
		ResultURL: base + "/result",
		CancelURL: base + "/cancel",
	})
}

func (s *Server) rejectSubmit(w http.ResponseWriter, code int, msg string) {
	s.mu.Lock()
	s.c.SubmitsRejected++
	s.mu.Unlock()
	writeError(w, code, msg)
}

// parseInput reads and validates a submit body against the model schema. It
// returns the input as canonical JSON and its duration, or an HTTP status and
// message.
func parseInput(body io.Reader) (canonical []byte, duration int, code int, msg string) {
	dec := json.NewDecoder(body)
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return nil, 0, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit)
		case errors.As(err, &typeErr):
			return nil, 0, http.StatusBadRequest, "request body must be a JSON object"
		case errors.Is(err, io.EOF):
			return nil, 0, http.StatusBadRequest, "request body is empty"
		default:
			return nil, 0, http.StatusBadRequest, "invalid JSON: " + err.Error()
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, 0, http.StatusBadRequest, "invalid JSON: unexpected data after the input object"
	}
	if in == nil {
		return nil, 0, http.StatusBadRequest, "request body must be a JSON object"
	}
	duration, errs := validateInput(in)
	if len(errs) > 0 {
		return nil, 0, http.StatusUnprocessableEntity, strings.Join(errs, "; ")
	}
	// Keys sorted, strings re-escaped, numbers as sent: equal inputs give
	// equal bytes however the client formatted them.
	canonical, err := json.Marshal(in)
	if err != nil {
		return nil, 0, http.StatusBadRequest, "invalid JSON: " + err.Error()
	}
	return canonical, duration, 0, ""
}

// validateInput checks in against the pika/pika-2-2/image-to-video schema
// and returns the duration in seconds, or every problem found.
func validateInput(in map[string]any) (int, []string) {
	var errs []string
	var unknown []string
	for k := range in {
		switch k {
		case "image", "promptText", "negativePrompt", "seed", "resolution", "duration":
		default:
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		errs = append(errs, fmt.Sprintf("unknown field %q", k))
	}

	switch v := in["image"].(type) {
	case nil:
		errs = append(errs, "image is required")
	case string:
		if !isAbsoluteHTTPURL(v) {
			errs = append(errs, "image must be an absolute http or https URL")
		}
	default:
		errs = append(errs, "image must be a string")
	}
	switch v := in["promptText"].(type) {
	case nil:
	case string:
		if utf8.RuneCountInString(v) > maxPromptChars {
			errs = append(errs, fmt.Sprintf("promptText must be at most %d characters", maxPromptChars))
		}
	default:
		errs = append(errs, "promptText must be a string")
	}
	switch in["negativePrompt"].(type) {
	case nil, string:
	default:
		errs = append(errs, "negativePrompt must be a string")
	}
	if v, ok := in["seed"]; ok && v != nil {
		if _, ok := integer(v); !ok {
			errs = append(errs, "seed must be an integer")
		}
	}
	if v, ok := in["resolution"]; ok && v != nil && v != "720p" && v != "1080p" {
		errs = append(errs, "resolution must be one of 720p, 1080p")
	}
	duration := 5
	if v, ok := in["duration"]; ok && v != nil {
		n, ok := integer(v)
		if !ok || (n != 5 && n != 10) {
			errs = append(errs, "duration must be one of 5, 10")
		}
		duration = int(n)
	}
	return duration, errs
}

// integer returns v as an int64 if it is a JSON integer literal.
func integer(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

func isAbsoluteHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// statusResponse is the answer of the status endpoint.
type statusResponse struct {
	RequestID     string `json:"request_id"`
	Status        string `json:"status"`
	QueuePosition *int   `json:"queue_position,omitempty"`
	StatusURL     string `json:"status_url"`
	ResultURL     string `json:"result_url"`
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	s.advance(s.clock())
	j := s.jobs[id]
	if j == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, msgNotFound)
		return
	}
	resp := statusResponse{RequestID: j.id, Status: j.publicStatus()}
	if j.state == StateInQueue {
		pos := s.acct.queuePosition(j)
		resp.QueuePosition = &pos
	}
	s.mu.Unlock()

	base := hostBase(r) + "/v1/requests/" + id
	resp.StatusURL = base + "/status"
	resp.ResultURL = base + "/result"
	writeJSON(w, http.StatusOK, resp)
}

// resultResponse is the answer of the result endpoint.
type resultResponse struct {
	RequestID  string        `json:"request_id"`
	Status     string        `json:"status"`
	Output     *resultOutput `json:"output,omitempty"`
	Error      any           `json:"error,omitempty"`
	CreatedAt  string        `json:"created_at,omitempty"`
	FinishedAt string        `json:"finished_at,omitempty"`
}

type resultOutput struct {
	Video string `json:"video"`
}

type errorObject struct {
	Message string `json:"message"`
}

func (s *Server) handleResult(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	now := s.clock()
	s.advance(now)
	j := s.jobs[id]
	if j == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, msgNotFound)
		return
	}
	resp := resultResponse{RequestID: j.id, Status: j.publicStatus()}
	var (
		filesBase string
		expires   string
	)
	switch j.state {
	case StateCompleted, StateFailed:
		if j.firstResultAt.IsZero() {
			j.firstResultAt = now
		}
		resp.CreatedAt = formatTime(j.createdAt)
		resp.FinishedAt = formatTime(j.finishedAt)
		switch {
		case j.state == StateFailed && j.failAsCompleted:
			resp.Error = j.failMessage
		case j.state == StateFailed:
			resp.Error = errorObject{Message: j.failMessage}
		default:
			filesBase = s.filesBaseFor(r)
			j.urlsIssued++
			switch {
			case j.urlsIssued == 1 && j.expireFirstURL:
				expires = strconv.FormatInt(now.UnixMilli()-1, 10)
			case s.cfg.URLTTL > 0:
				expires = strconv.FormatInt(now.Add(s.cfg.URLTTL).UnixMilli(), 10)
			}
		}
	}
	s.mu.Unlock()

	if filesBase != "" {
		resp.Output = &resultOutput{Video: s.fileURL(filesBase, id, 0, expires)}
	}
	writeJSON(w, http.StatusOK, resp)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

type cancelResponse struct {
	RequestID string `json:"request_id"`
	Status    string `json:"status"`
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	now := s.clock()
	s.advance(now)
	j := s.jobs[id]
	switch {
	case j == nil:
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, msgNotFound)
	case j.state != StateInQueue:
		s.mu.Unlock()
		writeError(w, http.StatusConflict, msgNotInQueue)
	default:
		s.acct.cancel(j, now)
		s.c.Cancelled++
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, cancelResponse{RequestID: id, Status: StateCancelled})
	}
}
