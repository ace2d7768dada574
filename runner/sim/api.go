package sim

import (
	"bytes"
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

// DefaultMaxBodyBytes bounds a submit body: an input is a few hundred
// bytes, unless it carries its files inline as data: URIs, as RunComfy's
// own nodes send them, up to 64 MiB a request.
const DefaultMaxBodyBytes = 65 << 20

// maxPromptChars is the schema's limit on promptText.
const maxPromptChars = 2000

// Error messages of the API.
const (
	msgUnauthorized    = "invalid or missing API token"
	msgNotFound        = "request not found"
	msgOtherAccount    = "request belongs to another account"
	msgRateLimited     = "rate limit exceeded"
	msgTooManyRequests = "too many concurrent requests"
	msgNoCredits       = "insufficient credits"
	msgNoBalance       = "insufficient balance: top up the account to submit more jobs"
)

// Cancel outcomes, as documented.
const (
	outcomeCancelled      = "cancelled"
	outcomeNotCancellable = "not_cancellable"
)

// statusSucceeded is the result endpoint's word for a finished job; the
// status endpoint says StateCompleted.
const statusSucceeded = "succeeded"

// oddWords are status words outside the docs, by the true state they stand
// for: those RunComfy's ComfyUI nodes take for a job still running, and
// last "queued", which they do not know (Faults.OddQueued).
var oddWords = map[string][]string{
	StateInQueue:    {"pending", "waiting", "queued"},
	StateInProgress: {"starting", "processing"},
}

// oddQueued is the odd word of a queued job no RunComfy client knows.
const oddQueued = "queued"

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
	mux.HandleFunc("GET /v1/models", s.handleModels)
	mux.HandleFunc("GET /v1/models/{model...}", s.handleModel)
	mux.HandleFunc("GET /prod/v2/balance", s.handleAccountBalance)
	mux.Handle("GET /v1/requests/{id}/status", s.guard(routeStatus, s.handleStatus))
	mux.Handle("GET /v1/requests/{id}/result", s.guard(routeResult, s.handleResult))
	mux.Handle("POST /v1/requests/{id}/cancel", s.guard(routeCancel, s.handleCancel))
	mux.Handle("/", s.guard(routeOther, func(w http.ResponseWriter, _ *http.Request) {
		s.writeError(w, apiError{status: http.StatusNotFound, msg: "not found"})
	}))
	mux.HandleFunc("GET /_sim/counters", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Counters())
	})
	mux.HandleFunc("GET /_sim/jobs", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Jobs())
	})
	mux.HandleFunc("GET /_sim/balance", s.handleGetBalance)
	mux.HandleFunc("POST /_sim/balance", s.handleSetBalance)
	mux.HandleFunc("POST /_sim/requests/{id}/expire", s.handleGone(s.Expire))
	mux.HandleFunc("POST /_sim/requests/{id}/disown", s.handleGone(s.Disown))
	return mux
}

// verdict is what guard decided for a request before its handler runs.
type verdict struct {
	err        apiError // status 0: pass to the handler
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
		case v.err.status != 0:
			if v.retryAfter != "" {
				w.Header().Set("Retry-After", v.retryAfter)
			}
			if v.err.code != CodeBadToken {
				s.cfg.Logger.Debug("sim injected error", "method", r.Method, "path", r.URL.Path, "code", v.err.status)
			}
			s.writeError(w, v.err)
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
		v = verdict{err: apiError{status: s.cfg.BadTokenStatus, code: CodeBadToken, msg: msgUnauthorized}}
	} else if wait, ok := s.limiter.take(s.clock()); !ok {
		c.RateLimited++
		v = verdict{err: apiError{status: http.StatusTooManyRequests, msg: msgRateLimited}, retryAfter: retryAfterValue(wait)}
	} else if s.chance(f.Rate429) {
		c.RateLimited++
		v = verdict{err: apiError{status: http.StatusTooManyRequests, msg: msgRateLimited}, retryAfter: retryAfterValue(f.RetryAfter)}
	} else if !(rt == routeSubmit && f.Spare5xxSubmits) && s.chance(f.Rate5xx) {
		c.ServerErrors++
		codes := [...]int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
		code := codes[s.reqRand.IntN(len(codes))]
		v = verdict{err: apiError{status: code, msg: strings.ToLower(http.StatusText(code))}}
	}
	if rt == routeSubmit && v.err.status >= 400 && v.err.status < 500 {
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

// submission is a submit body that fits its model: the input, as parsed
// and as canonical JSON, with its duration and price.
type submission struct {
	model    string
	in       map[string]any
	input    []byte
	duration int
	price    int64
}

// readSubmit reads and checks a submit, answering the client itself when
// it is refused (unknown model, bad body, invalid input).
func (s *Server) readSubmit(w http.ResponseWriter, r *http.Request) (submission, bool) {
	model := r.PathValue("model")
	entry, validate, known := s.submitRules(model)
	if !known {
		drain(r)
		s.mu.Lock()
		s.c.UnknownModel++
		s.mu.Unlock()
		s.rejectSubmit(w, apiError{status: http.StatusBadRequest, code: CodeUnknownModel, msg: "model not found: " + model})
		return submission{}, false
	}
	in, input, duration, code, msg := parseInput(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), validate)
	if code != 0 {
		e := apiError{status: code, msg: msg}
		if code == http.StatusUnprocessableEntity {
			e.code = CodeValidation
		}
		s.rejectSubmit(w, e)
		return submission{}, false
	}
	price := s.jobPrice
	if entry != nil {
		price = entry.jobPriceMicro(in)
	}
	return submission{model: model, in: in, input: input, duration: duration, price: price}, true
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	sub, ok := s.readSubmit(w, r)
	if !ok {
		return
	}
	urls, inlineFailure := s.fileInputs(sub)

	s.mu.Lock()
	now := s.clock()
	s.advance(now)
	if e, refused := s.refuseSubmitLocked(sub.price); refused {
		s.mu.Unlock()
		if e.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		s.writeError(w, e)
		return
	}
	j := s.newJob(now, sub.input, sub.duration, sub.price)
	if inlineFailure != "" {
		j.failOnStart(inlineFailure)
	} else {
		j.fetchURLs = urls
	}
	lost, gateway := s.createFaultLocked()
	s.mu.Unlock()
	if s.cfg.OnCreate != nil {
		s.cfg.OnCreate(j.id)
	}
	s.answerSubmit(w, r, j.id, lost, gateway)
}

// submitRules picks the rules a submit for model is checked by: the
// built-in pika rules for the configured model, whatever the catalog
// says, or the catalog entry's. known is false for a model neither has.
func (s *Server) submitRules(model string) (entry *catalogEntry, validate func(map[string]any) (int, []string), known bool) {
	entry = s.catalog[model]
	switch {
	case model == s.cfg.Model:
		return entry, validateInput, true
	case entry != nil:
		return entry, func(in map[string]any) (int, []string) {
			d, _ := integer(in["duration"])
			return int(d), entry.validate(in)
		}, true
	}
	return nil, nil, false
}

// refuseSubmitLocked decides whether the account refuses a valid submit
// costing price micro-dollars, and counts the refusal: an injected 402,
// a balance that cannot pay, or the account's limit on jobs at once.
// s.mu is held.
func (s *Server) refuseSubmitLocked(price int64) (apiError, bool) {
	if s.chance(s.cfg.Faults.Rate402) {
		s.c.SubmitsRejected++
		return apiError{status: http.StatusPaymentRequired, code: CodeNoBalance, msg: msgNoCredits}, true
	}
	if s.balance.limited && (s.balance.micro <= 0 || s.balance.micro < price) {
		s.c.SubmitsRejected++
		s.c.BalanceRefusals++
		return apiError{status: s.cfg.BalanceStatus, code: CodeNoBalance, msg: msgNoBalance}, true
	}
	if limit := s.cfg.MaxConcurrentSubmits; limit > 0 && s.acct.queued+s.acct.busy() >= limit {
		s.c.SubmitsRejected++
		s.c.RateLimited++
		return apiError{status: http.StatusTooManyRequests, msg: msgTooManyRequests}, true
	}
	return apiError{}, false
}

// createFaultLocked draws what goes wrong after a job was created: its
// response lost, or a gateway's 502/504 in its place (gateway is 0 when
// neither). s.mu is held.
func (s *Server) createFaultLocked() (lost bool, gateway int) {
	f := s.cfg.Faults
	switch {
	case s.chance(f.RateLostResponse):
		s.c.LostResponses++
		return true, 0
	case s.chance(f.RateGatewayAfterCreate):
		s.c.GatewayAfterCreate++
		gateway = http.StatusBadGateway
		if s.reqRand.IntN(2) == 1 {
			gateway = http.StatusGatewayTimeout
		}
	}
	return false, gateway
}

// answerSubmit answers a created job's submit: its URLs, or the fault
// createFaultLocked drew.
func (s *Server) answerSubmit(w http.ResponseWriter, r *http.Request, id string, lost bool, gateway int) {
	switch {
	case lost:
		s.cfg.Logger.Debug("sim lost submit response", "request_id", id)
		abort(w, false)
		return
	case gateway != 0:
		s.cfg.Logger.Debug("sim gateway error after create", "request_id", id, "code", gateway)
		writeGatewayError(w, gateway)
		return
	}
	base := hostBase(r) + "/v1/requests/" + id
	writeJSON(w, http.StatusOK, submitResponse{
		RequestID: id,
		StatusURL: base + "/status",
		ResultURL: base + "/result",
		CancelURL: base + "/cancel",
	})
}

func (s *Server) rejectSubmit(w http.ResponseWriter, e apiError) {
	s.mu.Lock()
	s.c.SubmitsRejected++
	s.mu.Unlock()
	s.writeError(w, e)
}

// parseInput reads and validates a submit body against the model schema. It
// returns the input as canonical JSON and its duration, or an HTTP status and
// message.
func parseInput(body io.Reader, validate func(map[string]any) (int, []string)) (in map[string]any, canonical []byte, duration int, code int, msg string) {
	// Read whole before decoding: a body over the limit is then refused
	// without being parsed, however large.
	raw, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, 0, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit)
		}
		return nil, nil, 0, http.StatusBadRequest, "request body could not be read"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return nil, nil, 0, http.StatusBadRequest, "request body must be a JSON object"
		case errors.Is(err, io.EOF):
			return nil, nil, 0, http.StatusBadRequest, "request body is empty"
		default:
			return nil, nil, 0, http.StatusBadRequest, "invalid JSON: " + err.Error()
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, 0, http.StatusBadRequest, "invalid JSON: unexpected data after the input object"
	}
	if in == nil {
		return nil, nil, 0, http.StatusBadRequest, "request body must be a JSON object"
	}
	duration, errs := validate(in)
	if len(errs) > 0 {
		return nil, nil, 0, http.StatusUnprocessableEntity, strings.Join(errs, "; ")
	}
	// Keys sorted, strings re-escaped, numbers as sent: equal inputs give
	// equal bytes however the client formatted them.
	canonical, err = json.Marshal(in)
	if err != nil {
		return nil, nil, 0, http.StatusBadRequest, "invalid JSON: " + err.Error()
	}
	return in, canonical, duration, 0, ""
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
		if !isAbsoluteHTTPURL(v) && !isImageDataURI(v) {
			errs = append(errs, "image must be an absolute http or https URL or a data:image/…;base64 URI")
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
	j, aerr := s.lookup(id)
	if aerr != nil {
		s.mu.Unlock()
		s.writeError(w, *aerr)
		return
	}
	resp := statusResponse{RequestID: j.id, Status: s.oddWord(j, j.publicStatus())}
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
	// Cost is the job's price in dollars, sent with include_cost=true once
	// the job completed (what RunComfy's partner nodes read).
	Cost *float64 `json:"cost,omitempty"`
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
	j, aerr := s.lookup(id)
	if aerr != nil {
		s.mu.Unlock()
		s.writeError(w, *aerr)
		return
	}
	resp := resultResponse{RequestID: j.id, Status: s.oddWord(j, j.resultStatus())}
	var (
		filesBase string
		expires   string
	)
	switch j.state {
	case StateCompleted, StateFailed:
		if j.firstResultAt.IsZero() {
			j.firstResultAt = now
		}
		resp.CreatedAt = s.formatTime(j.createdAt)
		resp.FinishedAt = s.formatTime(j.finishedAt)
		switch {
		case j.state == StateFailed && j.failAsCompleted:
			resp.Error = j.failMessage
		case j.state == StateFailed:
			resp.Error = errorObject{Message: j.failMessage}
		default:
			if r.URL.Query().Get("include_cost") == "true" && !s.cfg.NoCost {
				j.costReads++
				if !s.cfg.LateCost || j.costReads > 1 {
					cost := fromMicro(j.price)
					resp.Cost = &cost
				}
			}
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

// formatTime formats a result timestamp at the configured precision; ""
// leaves the field out.
func (s *Server) formatTime(t time.Time) string {
	switch s.cfg.Timestamps {
	case TimestampsMillis:
		return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	case TimestampsNone:
		return ""
	default:
		return t.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
}

// oddWord returns word, or for a queued or running job drawn by
// Faults.RateOddStatus a word outside the docs meaning the same. s.mu must be
// held.
func (s *Server) oddWord(j *job, word string) string {
	words, ok := oddWords[j.state]
	if !ok || !s.chance(s.cfg.Faults.RateOddStatus) {
		return word
	}
	if !s.cfg.Faults.OddQueued && words[len(words)-1] == oddQueued {
		words = words[:len(words)-1]
	}
	s.c.OddStatusWords++
	return words[s.reqRand.IntN(len(words))]
}

// cancelResponse is the answer of the cancel endpoint. Status is not the
// job's new state: the documented example of an accepted cancel reads
// "completed".
type cancelResponse struct {
	RequestID string `json:"request_id"`
	Status    string `json:"status"`
	Outcome   string `json:"outcome"`
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	now := s.clock()
	s.advance(now)
	j, aerr := s.lookup(id)
	if aerr != nil {
		s.mu.Unlock()
		s.writeError(w, *aerr)
		return
	}
	resp := cancelResponse{RequestID: id}
	switch j.state {
	case StateInQueue, StateCancelled:
		// Asking again about a cancelled job says cancelled again, so that
		// a client re-sending a cancel whose answer was lost learns the
		// truth.
		if j.state == StateInQueue {
			s.acct.cancel(j, now)
			s.c.Cancelled++
		}
		s.c.CancelsAccepted++
		resp.Status, resp.Outcome = StateCompleted, outcomeCancelled // as the documented example
	default:
		s.c.CancelsNotCancellable++
		resp.Status, resp.Outcome = j.publicStatus(), outcomeNotCancellable
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, resp)
}

// balanceState is the body of GET and POST /_sim/balance.
type balanceState struct {
	Limited    bool    `json:"limited"`
	JobsLeft   int64   `json:"jobs_left"`
	BalanceUSD float64 `json:"balance_usd"`
}

// balanceChange is the body of POST /_sim/balance: exactly one field.
type balanceChange struct {
	AddJobs *int64   `json:"add_jobs"` // top up by this many jobs of Config.Model
	Jobs    *int64   `json:"jobs"`     // set to this many jobs; negative: unlimited
	AddUSD  *float64 `json:"add_usd"`  // top up by this many dollars
	USD     *float64 `json:"usd"`      // set to this many dollars; negative: unlimited
}

func (s *Server) handleGetBalance(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	st := balanceState{Limited: s.balance.limited, JobsLeft: s.jobsLeft(), BalanceUSD: fromMicro(s.balance.micro)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleSetBalance(w http.ResponseWriter, r *http.Request) {
	var ch balanceChange
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10))
	dec.DisallowUnknownFields()
	err := dec.Decode(&ch)
	set := 0
	for _, f := range []bool{ch.AddJobs != nil, ch.Jobs != nil, ch.AddUSD != nil, ch.USD != nil} {
		if f {
			set++
		}
	}
	if err != nil || set != 1 {
		writeJSON(w, http.StatusBadRequest, errorMessageBody{
			ErrorMessage: `body must be one of {"add_jobs": N}, {"jobs": N}, {"add_usd": X}, {"usd": X} (N, X < 0: unlimited)`,
		})
		return
	}
	switch {
	case ch.AddJobs != nil:
		s.AddBalanceJobs(*ch.AddJobs)
	case ch.Jobs != nil:
		s.SetBalanceJobs(*ch.Jobs)
	case ch.AddUSD != nil:
		s.AddBalanceUSD(*ch.AddUSD)
	default:
		s.SetBalanceUSD(*ch.USD)
	}
	s.handleGetBalance(w, r)
}

// handleGone serves POST /_sim/requests/{id}/expire and …/disown: 204, or
// 404 for an ID this simulator never handed out.
func (s *Server) handleGone(mark func(string) bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !mark(r.PathValue("id")) {
			writeJSON(w, http.StatusNotFound, errorMessageBody{ErrorMessage: "no such request"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
