package sim

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Streams of the seeded PCG generator, one per kind of choice, so that the
// choices of one kind do not depend on how many of another were drawn.
const (
	streamRequests = 0x7265717565737473 // faults on requests
	streamJobs     = 0x6a6f627370726f70 // per-job properties
	streamIDs      = 0x7265717565737469 // request IDs
)

// Counters is what the simulator saw. Counters returns a snapshot; GET
// /_sim/counters serves the same as JSON.
type Counters struct {
	// Requests counts all API requests (not /_sim ones).
	Requests int64 `json:"requests"`
	// Submits counts submit requests that created a job, including lost
	// responses: each is a paid generation.
	Submits int64 `json:"submits"`
	// SubmitsRejected counts submits refused with a 4xx that created
	// nothing: auth, validation, unknown model, no balance (Rate402 or
	// BalanceJobs spent), and 429 for any reason.
	SubmitsRejected int64 `json:"submits_rejected"`
	// DuplicateSubmits counts created jobs whose exact input (canonical JSON)
	// had been submitted before.
	DuplicateSubmits int64 `json:"duplicate_submits"`
	// LostResponses counts created jobs whose response was dropped.
	LostResponses int64 `json:"lost_responses"`
	// StatusCalls, ResultCalls and CancelCalls count requests to those
	// endpoints, including ones answered with an injected fault.
	StatusCalls int64 `json:"status_calls"`
	ResultCalls int64 `json:"result_calls"`
	CancelCalls int64 `json:"cancel_calls"`
	// Cancelled counts jobs cancelled while queued.
	Cancelled int64 `json:"cancelled"`
	// CancelsAccepted counts cancel answers with outcome "cancelled": a
	// queued job cancelled, or a cancelled one asked again.
	CancelsAccepted int64 `json:"cancels_accepted"`
	// CancelsNotCancellable counts cancel answers with outcome
	// "not_cancellable": the job was running or done, and the cancel was a
	// no-op (the job goes on and is paid for).
	CancelsNotCancellable int64 `json:"cancels_not_cancellable"`
	// Unauthorized counts answers to a missing or wrong token (error_code
	// 400004, HTTP Config.BadTokenStatus).
	Unauthorized int64 `json:"unauthorized"`
	// UnknownModel counts submits for another model (error_code 400001).
	UnknownModel int64 `json:"unknown_model"`
	// BalanceRefusals counts submits refused because Config.BalanceJobs ran
	// out (error_code 400002, HTTP 400). Faults.Rate402 refusals are not
	// counted here.
	BalanceRefusals int64 `json:"balance_refusals"`
	// BalanceTopUps counts calls of AddBalanceJobs and SetBalanceJobs,
	// including POST /_sim/balance.
	BalanceTopUps int64 `json:"balance_top_ups"`
	// NotFound counts answers with error_code 404001: unknown or expired
	// request IDs.
	NotFound int64 `json:"not_found"`
	// OtherAccount counts answers with error_code 403001: request IDs of
	// another account.
	OtherAccount int64 `json:"other_account"`
	// GatewayAfterCreate counts submits whose job was created and then
	// answered 502 or 504 (Faults.RateGatewayAfterCreate): each is a paid job
	// the client was not told about, so a client's duplicate submits should
	// not exceed this plus LostResponses.
	GatewayAfterCreate int64 `json:"gateway_after_create"`
	// OddStatusWords counts status and result answers carrying a status word
	// outside the docs (Faults.RateOddStatus).
	OddStatusWords int64 `json:"odd_status_words"`
	// RateLimited counts 429s of any cause.
	RateLimited int64 `json:"rate_limited"`
	// ServerErrors counts injected 5xx answers that created nothing
	// (Faults.Rate5xx); see GatewayAfterCreate for the others.
	ServerErrors int64 `json:"server_errors"`
	// Dropped counts requests whose connection was dropped before
	// processing.
	Dropped int64 `json:"dropped"`
	// Downloads counts file GETs answered with content (full, partial or
	// truncated).
	Downloads int64 `json:"downloads"`
	// DownloadsTruncated counts downloads cut off midway.
	DownloadsTruncated int64 `json:"downloads_truncated"`
	// DownloadsExpired counts file requests refused because the URL expired.
	DownloadsExpired int64 `json:"downloads_expired"`
	// FileRequestsWithAuth counts file requests that carried an
	// Authorization header. A correct client keeps it at 0.
	FileRequestsWithAuth int64 `json:"file_requests_with_auth"`
	// Completed and Failed count jobs that reached those states.
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
	// CatalogCalls and BalanceCalls count requests to the catalog (GET
	// /v1/models…) and to the balance (GET /prod/v2/balance). They are not
	// in Requests.
	CatalogCalls int64 `json:"catalog_calls"`
	BalanceCalls int64 `json:"balance_calls"`
	// InputFetches counts file inputs fetched with Config.FetchInputs, and
	// InputFetchFailures the jobs failed because one could not be.
	InputFetches       int64 `json:"input_fetches"`
	InputFetchFailures int64 `json:"input_fetch_failures"`
	// SpentUSD is the price of every created job, lost responses included:
	// what the account paid.
	SpentUSD float64 `json:"spent_usd"`
}

// JobInfo is a snapshot of one job, for tests and benchmarks.
type JobInfo struct {
	RequestID string
	// Input is the submitted input as canonical JSON (sorted keys).
	Input json.RawMessage
	// State is the job's true state, one of the State constants. A failed
	// job reads StateFailed here even when the API reports it "completed".
	State string
	// Error is the failure message of a failed job.
	Error string
	// IsStuck reports a job drawn by Faults.RateNeverFinish.
	IsStuck bool
	// CreatedAt is when the submit was accepted. StartedAt and FinishedAt
	// are zero until the job took a slot and until it completed, failed or
	// was cancelled.
	CreatedAt, StartedAt, FinishedAt time.Time
	// FirstResultAt is when the result endpoint first returned the job's
	// final result (outputs or error).
	FirstResultAt time.Time
	// FirstDownloadAt is when a file of the job was first answered with
	// content; FirstDownloadAt minus FinishedAt is the client's pickup
	// latency.
	FirstDownloadAt time.Time
	// Downloads counts the file GETs answered with content.
	Downloads int
}

// Server is the simulated API and storage host. It is safe for concurrent
// use.
type Server struct {
	cfg      Config
	token    []byte
	secret   []byte // signs file URLs
	idPrefix string // 12 hex digits starting every request ID
	api      http.Handler
	files    http.Handler
	errSeq   atomic.Uint64 // error answers sent, for ShapeMixed

	mu        sync.Mutex
	filesBase string // scheme://host:port, no trailing slash
	filesPort string // set instead of filesBase: host taken from each request
	lastNow   time.Time
	reqRand   *mrand.Rand
	jobRand   *mrand.Rand
	idRand    *mrand.Rand
	jobs      map[string]*job
	order     []*job
	seen      map[string]struct{}
	acct      account
	limiter   bucket
	balance   balance
	c         Counters
	spent     int64 // micro-dollars, for Counters.SpentUSD

	catalog      map[string]*catalogEntry
	catalogOrder []string
	jobPrice     int64               // micro-dollars one job of Config.Model costs: the unit of the balance in jobs
	fetchFields  map[string][]string // each model's file inputs, with Config.FetchInputs
	fetches      fetches             // input fetches of started jobs in flight
}

// balance is what the account can still pay for. Guarded by Server.mu.
type balance struct {
	limited bool
	micro   int64 // micro-dollars left, when limited
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	token, prefix, err := secretsOf(cfg)
	if err != nil {
		return nil, err
	}
	catalog, order, err := compileCatalog(cfg.Catalog)
	if err != nil {
		return nil, err
	}
	var fetch map[string][]string
	if cfg.FetchInputs {
		if fetch, err = fetchFields(cfg, catalog); err != nil {
			return nil, err
		}
	}
	// A job of the balance in jobs is one with Model's default input: for
	// a model priced per second, a clip of the schema's default duration.
	jobPrice := toMicro(DefaultJobPriceUSD)
	if e := catalog[cfg.Model]; e != nil {
		if p := e.jobPriceMicro(nil); p > 0 {
			jobPrice = p
		}
	}
	bal := balance{limited: cfg.BalanceJobs > 0 || cfg.BalanceUSD > 0, micro: int64(cfg.BalanceJobs) * jobPrice}
	if cfg.BalanceUSD > 0 {
		bal.micro = toMicro(cfg.BalanceUSD)
	}
	seed := uint64(cfg.Seed)
	secret := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("pikabatch-sim-url-secret"), seed))
	s := &Server{
		cfg:      cfg,
		token:    []byte(token),
		secret:   secret[:],
		idPrefix: prefix,
		reqRand:  mrand.New(mrand.NewPCG(seed, streamRequests)),
		jobRand:  mrand.New(mrand.NewPCG(seed, streamJobs)),
		idRand:   mrand.New(mrand.NewPCG(seed, streamIDs)),
		jobs:     make(map[string]*job),
		seen:     make(map[string]struct{}),
		acct:     account{slots: cfg.Slots},
		limiter:  newBucket(cfg.RateLimit),
		balance:  bal,
		catalog:  catalog,
		jobPrice: jobPrice,

		fetchFields: fetch,
		fetches:     newFetches(),
	}
	s.catalogOrder = order
	s.api = s.apiRoutes()
	s.files = s.fileRoutes()
	return s, nil
}

// secretsOf returns cfg's token and request ID prefix, drawing each one
// not given from crypto/rand.
func secretsOf(cfg Config) (token, prefix string, err error) {
	token = cfg.Token
	if token == "" {
		// Not from Seed: a predictable token would let anyone on the host
		// use a simulator started without one.
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", "", err
		}
		token = "sim_" + hex.EncodeToString(b[:])
	}
	prefix = cfg.IDPrefix
	if prefix == "" {
		// Not from Seed: two simulators started with the same seed must not
		// hand out the same IDs, or a batch rendered on one would look
		// rendered on the other.
		var b [idPrefixLen / 2]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", "", err
		}
		prefix = hex.EncodeToString(b[:])
	}
	return token, prefix, nil
}

// Token returns the bearer token the API requires.
func (s *Server) Token() string { return string(s.token) }

// IDPrefix returns the first 12 hex digits of every request ID this Server
// hands out (Config.IDPrefix, or the random one).
func (s *Server) IDPrefix() string { return s.idPrefix }

// jobsLeft is the balance in jobs of Config.Model. s.mu must be held.
func (s *Server) jobsLeft() int64 {
	if s.jobPrice <= 0 {
		return 0
	}
	return s.balance.micro / s.jobPrice
}

// BalanceUSD returns the account's balance in dollars, and false when it is
// unlimited.
func (s *Server) BalanceUSD() (usd float64, limited bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fromMicro(s.balance.micro), s.balance.limited
}

// AddBalanceJobs tops the account up by the price of n jobs of Config.Model
// while it runs and returns the new balance in jobs. An unlimited account
// stays unlimited.
func (s *Server) AddBalanceJobs(n int64) int64 {
	s.AddBalanceUSD(fromMicro(n * s.jobPrice))
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobsLeft()
}

// SetBalanceJobs sets the balance to the price of n jobs of Config.Model (0
// empties the account), or makes it unlimited when n is negative.
func (s *Server) SetBalanceJobs(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.BalanceTopUps++
	s.balance = balance{limited: n >= 0, micro: max(n, 0) * s.jobPrice}
}

// AddBalanceUSD tops the account up by usd (negative takes money away, down
// to zero) and returns the new balance. An unlimited account stays
// unlimited.
func (s *Server) AddBalanceUSD(usd float64) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.BalanceTopUps++
	if s.balance.limited {
		s.balance.micro = max(s.balance.micro+toMicro(usd), 0)
	}
	return fromMicro(s.balance.micro)
}

// SetBalanceUSD sets the balance to usd (0 empties the account), or makes it
// unlimited when usd is negative.
func (s *Server) SetBalanceUSD(usd float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.BalanceTopUps++
	s.balance = balance{limited: usd >= 0, micro: max(toMicro(usd), 0)}
}

// Expire forgets a request as the API does after its retention period: from
// then on it answers error_code 404001. The job keeps its slot until it
// finishes. It reports whether the request existed.
func (s *Server) Expire(requestID string) bool {
	return s.markGone(requestID, goneExpired)
}

// Disown moves a request to another account: from then on it answers
// error_code 403001 (HTTP 403). It reports whether the request existed.
func (s *Server) Disown(requestID string) bool {
	return s.markGone(requestID, goneOtherAccount)
}

func (s *Server) markGone(id string, how gone) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return false
	}
	j.gone = how
	return true
}

// lookup finds the job a status, result or cancel call names, or the error
// to answer. s.mu must be held.
func (s *Server) lookup(id string) (*job, *apiError) {
	j := s.jobs[id]
	switch {
	case j != nil && j.gone == goneOtherAccount:
		s.c.OtherAccount++
		return nil, &apiError{status: http.StatusForbidden, code: CodeOtherAccount, msg: msgOtherAccount}
	case j == nil || j.gone == goneExpired:
		s.c.NotFound++
		return nil, &apiError{status: http.StatusNotFound, code: CodeNotFound, msg: msgNotFound}
	}
	return j, nil
}

// APIHandler returns the Model API handler.
func (s *Server) APIHandler() http.Handler { return s.api }

// FilesHandler returns the storage host's handler, serving result files under
// /files/. Serve it on another origin than the API, then call SetFilesBase.
func (s *Server) FilesHandler() http.Handler { return s.files }

// SetFilesBase tells the API where FilesHandler is reachable, such as
// "http://127.0.0.1:34567"; result URLs are built from it. Until it is called,
// result URLs point at the API's own host, where no file is served.
func (s *Server) SetFilesBase(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filesBase = strings.TrimRight(base, "/")
	s.filesPort = ""
}

// setFilesPort makes result URLs use the host name the client used for the
// API with another port: for a server listening on all interfaces.
func (s *Server) setFilesPort(port string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filesBase = ""
	s.filesPort = port
}

// Counters returns a snapshot of the counters, with the account advanced to
// now.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock())
	c := s.c
	c.SpentUSD = fromMicro(s.spent)
	return c
}

// Jobs returns a snapshot of every job in submit order, with the account
// advanced to now.
func (s *Server) Jobs() []JobInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock())
	out := make([]JobInfo, len(s.order))
	for i, j := range s.order {
		info := JobInfo{
			RequestID:       j.id,
			Input:           bytes.Clone(j.input),
			State:           j.state,
			IsStuck:         j.isStuck,
			CreatedAt:       j.createdAt,
			StartedAt:       j.startedAt,
			FinishedAt:      j.finishedAt,
			FirstResultAt:   j.firstResultAt,
			FirstDownloadAt: j.firstDownloadAt,
			Downloads:       j.downloads,
		}
		if j.state == StateFailed {
			info.Error = j.failMessage
		}
		out[i] = info
	}
	return out
}

// Video returns the exact bytes served for output i of a request, and whether
// that output exists (the job completed without error).
func (s *Server) Video(requestID string, i int) ([]byte, bool) {
	s.mu.Lock()
	s.advance(s.clock())
	j := s.jobs[requestID]
	ok := j != nil && j.hasOutput() && i >= 0 && i < outputsPerJob
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	return videoBytes(s.cfg.Seed, requestID, i, s.cfg.VideoSize), true
}

// clock reads the configured clock, never going back. s.mu must be held.
func (s *Server) clock() time.Time {
	now := s.cfg.Now()
	if now.Before(s.lastNow) {
		return s.lastNow
	}
	s.lastNow = now
	return now
}

// advance moves the account to now. s.mu must be held.
func (s *Server) advance(now time.Time) {
	s.acct.advance(now, s.onFinish)
	for i, j := range s.acct.toFetch {
		s.startFetch(j)
		s.acct.toFetch[i] = nil
	}
	s.acct.toFetch = s.acct.toFetch[:0]
}

func (s *Server) onFinish(j *job) {
	if j.state == StateFailed {
		s.c.Failed++
	} else {
		s.c.Completed++
	}
}

// chance draws from the request stream. s.mu must be held.
func (s *Server) chance(rate float64) bool {
	return rate > 0 && s.reqRand.Float64() < rate
}

// newJob creates a job at now and enqueues it. s.mu must be held.
func (s *Server) newJob(now time.Time, input []byte, duration int, price int64) *job {
	id := newRequestID(s.idPrefix, s.idRand.Uint64(), s.idRand.Uint64())
	for s.jobs[id] != nil {
		id = newRequestID(s.idPrefix, s.idRand.Uint64(), s.idRand.Uint64())
	}
	j := &job{
		id:         id,
		seq:        int64(len(s.order)),
		input:      input,
		state:      StateInQueue,
		createdAt:  now,
		eligibleAt: now.Add(s.cfg.QueueTime),
		price:      price,
	}
	run := s.cfg.RunTime
	if duration == 10 {
		run *= 2
	}
	r, f := s.jobRand, s.cfg.Faults
	if s.cfg.RunJitter > 0 {
		u := r.Float64()
		if s.cfg.JitterByInput {
			u = inputFraction(input)
		}
		run = time.Duration(float64(run) * (1 + s.cfg.RunJitter*(2*u-1)))
	}
	j.runTime = max(run, 0)
	if f.RateFail > 0 && r.Float64() < f.RateFail {
		j.fails = true
		j.failAsCompleted = r.IntN(2) == 1
		j.failMessage = failureMessages[r.IntN(len(failureMessages))]
	}
	j.isStuck = f.RateNeverFinish > 0 && r.Float64() < f.RateNeverFinish
	j.expireFirstURL = f.RateExpire > 0 && r.Float64() < f.RateExpire
	j.truncateFirst = f.RateTruncate > 0 && r.Float64() < f.RateTruncate

	s.jobs[id] = j
	s.order = append(s.order, j)
	s.acct.enqueue(j)
	s.c.Submits++
	s.spent += price
	if s.balance.limited {
		s.balance.micro = max(s.balance.micro-price, 0)
	}
	if _, dup := s.seen[string(input)]; dup {
		s.c.DuplicateSubmits++
	} else {
		s.seen[string(input)] = struct{}{}
	}
	return j
}

// inputFraction maps an input to a fraction in [0, 1), the same for the
// same input (Config.JitterByInput).
func inputFraction(input []byte) float64 {
	h := fnv.New64a()
	_, _ = h.Write(input)
	return float64(h.Sum64()>>11) / (1 << 53)
}

// authorized reports whether r carries the bearer token.
func (s *Server) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), s.token) == 1
}

// bucket is a token bucket on the injected clock.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
	started             bool
}

func newBucket(rate float64) bucket {
	return bucket{rate: rate, burst: max(1, rate/10)}
}

// take spends a token, or says how long until one is available.
func (b *bucket) take(now time.Time) (time.Duration, bool) {
	if b.rate <= 0 {
		return 0, true
	}
	if !b.started {
		b.started, b.tokens, b.last = true, b.burst, now
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
}

// retryAfterValue formats d for Retry-After: whole seconds rounded up, at
// least 1.
func retryAfterValue(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

// writeJSON writes v as the JSON response body with the status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own response types are marshalled; this is a bug.
		panic(err)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// abort closes the client connection without completing the response: what
// the client sees is whatever was flushed, then EOF. The body must already
// have been read.
func abort(w http.ResponseWriter, flush bool) {
	rc := http.NewResponseController(w)
	if flush {
		_ = rc.Flush()
	}
	if conn, _, err := rc.Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	// HTTP/2 cannot hijack; aborting the handler resets the stream.
	panic(http.ErrAbortHandler)
}

// drain reads what is left of the request body so that the request counts as
// read before the connection is dropped.
func drain(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, DefaultMaxBodyBytes))
}

// hostBase is scheme://host of the request, for URLs pointing back at the
// API.
func hostBase(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// filesBaseFor returns the base of file URLs for a request. s.mu must be
// held.
func (s *Server) filesBaseFor(r *http.Request) string {
	switch {
	case s.filesBase != "":
		return s.filesBase
	case s.filesPort != "":
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return "http://" + net.JoinHostPort(strings.Trim(host, "[]"), s.filesPort)
	default:
		return hostBase(r)
	}
}
