package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultModel      = "pika/pika-2-2/image-to-video"
	DefaultSlots      = 4
	DefaultRunTime    = 2 * time.Second
	DefaultVideoSize  = 64 << 10
	DefaultRetryAfter = time.Second
	// DefaultBadTokenStatus answers a missing or wrong token.
	DefaultBadTokenStatus = http.StatusUnauthorized
	// DefaultBalanceStatus answers a submit the balance cannot pay: RunComfy's
	// own ComfyUI nodes know an empty wallet only as HTTP 402.
	DefaultBalanceStatus = http.StatusPaymentRequired
)

// MinVideoSize is the smallest Config.VideoSize: the MP4 box headers every
// simulated video starts with.
const MinVideoSize = 32

// ErrInvalidConfig is returned by New and Start when a Config field is out of
// range (negative durations or sizes, rates outside [0, 1]).
var ErrInvalidConfig = errors.New("invalid simulator config")

// Faults sets how often the simulator misbehaves. Every rate is a fraction in
// [0, 1]; zero turns the fault off. The choices are drawn from Config.Seed.
type Faults struct {
	// Rate429 is the fraction of API requests answered 429 with Retry-After.
	Rate429 float64
	// RetryAfter is sent in the Retry-After header of injected 429s, rounded
	// up to whole seconds, at least 1 (the header cannot say less). Zero means
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// Rate5xx is the fraction of API requests answered 500, 502 or 503 with a
	// JSON error body.
	Rate5xx float64
	// Spare5xxSubmits keeps Rate5xx off submits. A 5xx on a submit is an
	// uncertain outcome: a client re-sends it at most as often as the user
	// allows, then holds the row for the user to decide, which is no fault
	// a rehearsal (the demo) recovers from on its own.
	Spare5xxSubmits bool
	// RateDrop is the fraction of API requests whose connection is closed
	// after the request was read and before it was processed: no job is
	// created, no response is sent.
	RateDrop float64
	// RateLostResponse is the fraction of accepted submits whose job is
	// created (and paid for) but whose connection is closed before the
	// response: the paid-duplicate hazard.
	RateLostResponse float64
	// RateTruncate is the fraction of result files whose first download is
	// cut off midway: the full Content-Length is declared, part of the body is
	// sent, then the connection is closed. Later downloads of the same file,
	// including Range requests to resume, are complete.
	RateTruncate float64
	// RateFail is the fraction of jobs whose generation fails: the result has
	// an error and no output, with status "failed" or, for about half of
	// them, "completed" (both shapes appear in practice).
	RateFail float64
	// RateExpire is the fraction of jobs whose first result URL is already
	// expired when fetched (the storage host answers 403). Asking the result
	// endpoint again issues a fresh, valid URL.
	RateExpire float64
	// RateNeverFinish is the fraction of jobs that, once started, read
	// in_progress forever and hold their slot forever: each one shrinks the
	// account (and counts against MaxConcurrentSubmits) for the rest of the
	// run, so keep the rate small for long dry runs.
	RateNeverFinish float64
	// Rate402 is the fraction of valid submits answered HTTP 402 with
	// error_code 400002 (insufficient credits).
	Rate402 float64
	// RateGatewayAfterCreate is the fraction of accepted submits whose job is
	// created (and paid for) and then answered 502 or 504 with a gateway's
	// HTML page, as a proxy that gave up waiting for the API would: a client
	// cannot tell it from a refusal, so re-sending it may pay twice.
	RateGatewayAfterCreate float64
	// RateOddStatus is the fraction of status and result answers for queued
	// or running jobs that carry a status word the docs do not list:
	// "pending" or "waiting" for a queued job, "starting" or "processing"
	// for a running one. These are the words RunComfy's ComfyUI nodes take
	// for a job still running.
	RateOddStatus float64
	// OddQueued adds "queued" to the odd words of a queued job. No client
	// of RunComfy's knows it (their ComfyUI nodes abort on it): it tests a
	// client's tolerance of a word nobody promised.
	OddQueued bool
}

// Timestamp precisions of created_at and finished_at, for Config.Timestamps.
const (
	TimestampsSeconds = "s"    // whole seconds, truncated: 2026-03-01T12:00:10Z
	TimestampsMillis  = "ms"   // milliseconds: 2026-03-01T12:00:10.250Z
	TimestampsNone    = "none" // both fields left out
)

// Error body shapes, for Config.ErrorShape. The docs promise a numeric
// error_code (when available) and a message; where the message sits is not
// documented, so a client must read each of these.
const (
	// ShapeErrorMessage is {"error_code": 404001, "error_message": "…"}, what
	// RunComfy's own clients read.
	ShapeErrorMessage = "error_message"
	// ShapeMessageDetail is {"error_code": 404001, "message": "…", "detail": "…"}.
	ShapeMessageDetail = "message_detail"
	// ShapeNested is {"error": {"code": 404001, "message": "…"}}.
	ShapeNested = "nested"
	// ShapeMixed rotates through the three shapes, one error answer after
	// another.
	ShapeMixed = "mixed"
)

// Config configures a Server. The zero value is usable: every zero field takes
// its default.
type Config struct {
	// Token is the bearer token required on API requests. Empty means a
	// random one is generated; Server.Token returns it.
	Token string
	// Model is the only model ID accepted by submit; others get HTTP 400
	// with error_code 400001.
	// Default DefaultModel.
	Model string
	// Slots is the number of jobs the account runs at once. Default
	// DefaultSlots.
	Slots int
	// QueueTime is how long a job waits in the queue at least, before it may
	// take a free slot. Default 0.
	QueueTime time.Duration
	// RunTime is how long a job runs once it has a slot; inputs with
	// duration 10 run twice as long. Default DefaultRunTime.
	RunTime time.Duration
	// RunJitter varies each job's run time by a random ±fraction in [0, 1].
	RunJitter float64
	// JitterByInput draws each job's RunJitter from a hash of its input
	// instead of Seed's stream: a row runs the same time whoever submits
	// it and in whatever order, so that clients compared on one batch get
	// the same work.
	JitterByInput bool
	// VideoSize is the size in bytes of each result video, at least
	// MinVideoSize. Default DefaultVideoSize.
	VideoSize int
	// MaxConcurrentSubmits is the account's limit on jobs queued and running
	// at once; a submit above it is answered 429 "too many concurrent
	// requests" with Retry-After 1. Zero means unlimited.
	MaxConcurrentSubmits int
	// RateLimit is the number of API requests per second above which the API
	// answers 429 (a token bucket with burst max(1, RateLimit/10)). Zero
	// means unlimited.
	RateLimit float64
	// URLTTL is how long a result URL stays valid after it is issued. Zero
	// means forever.
	URLTTL time.Duration
	// Faults injects errors; see Faults.
	Faults Faults
	// Timestamps is the precision of created_at and finished_at in results:
	// TimestampsSeconds (the default), TimestampsMillis or TimestampsNone.
	Timestamps string
	// ErrorShape is the body shape of error answers: ShapeErrorMessage (the
	// default), ShapeMessageDetail, ShapeNested or ShapeMixed.
	ErrorShape string
	// BadTokenStatus is the HTTP status of an answer to a missing or wrong
	// token (error_code 400004): 401 (DefaultBadTokenStatus) or 400.
	BadTokenStatus int
	// BalanceJobs is how many accepted jobs of Model the account can pay
	// for (converted to dollars at the catalog price of a job of Model
	// with the schema's default duration, or DefaultJobPriceUSD); once they
	// are spent, submits are answered HTTP BalanceStatus with error_code
	// 400002 until Server.AddBalanceJobs (or POST /_sim/balance) tops it up.
	// Zero means unlimited; Server.SetBalanceJobs(0) empties the account.
	BalanceJobs int
	// BalanceUSD is the account's balance in dollars; each accepted submit
	// takes its price (CatalogModel) from it, and a submit the balance
	// cannot pay is answered HTTP BalanceStatus with error_code 400002.
	// Zero means unlimited, unless BalanceJobs is set; setting both is an
	// error.
	BalanceUSD float64
	// BalanceStatus is the HTTP status of a submit the balance cannot pay
	// (error_code 400002): 402 (DefaultBalanceStatus) or 400, for a client
	// that must read the code whatever the status.
	BalanceStatus int
	// NoCost leaves "cost" out of results even with include_cost=true, as
	// an API that does not report it.
	NoCost bool
	// LateCost leaves "cost" out of the first result read of a completed
	// job that asks for it, and sends it on every later one: the API may
	// not have billed the job yet when it first reports it done.
	LateCost bool
	// Catalog is the models GET /v1/models serves and submit accepts
	// besides Model. Nil means DefaultCatalog().
	Catalog []CatalogModel
	// IDPrefix is the first 12 hex digits of every request ID (the first two
	// groups of the UUID), lowercase. Empty means a random one per Server, so
	// two simulators never hand out the same ID even with the same Seed; set
	// it (with Seed) when a test needs the exact IDs again.
	IDPrefix string
	// Seed seeds every random choice: faults, jitter, request IDs (after
	// IDPrefix), URL signatures and video bytes. The generated Token and
	// IDPrefix are not derived from it.
	Seed int64
	// Now is the clock. Default time.Now. Tests inject a fake clock to move
	// jobs through their states; it should not go backwards (if it does, the
	// simulator holds its last reading).
	Now func() time.Time
	// Logger receives debug records of injected faults and server errors.
	// Default: discard.
	Logger *slog.Logger
	// FilesAddr is the address Start listens on for result files, such as
	// "127.0.0.1:40123". Default: an ephemeral port of the API's host. A
	// simulator restarted from a Snapshot serves the files of its earlier
	// jobs at their old URLs only on the old address. Its host should be the
	// API's: result URLs name the API's host with the files port.
	FilesAddr string
	// MaxBodyBytes bounds a submit body; a larger one is answered 413.
	// Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// FetchInputs makes the simulator GET each file input of a job when
	// the job takes a slot, as the API does before it generates, and fail
	// the job (an error result, as a failed generation) when one cannot be
	// fetched: an answer other than 2xx, no answer, or no answer within
	// FetchTimeout. A rehearsal then catches an expired, unsigned or
	// misspelt URL, including a pre-signed URL that expires while its job
	// waits in the queue. Only http and https URLs are fetched, from
	// whatever host they name, with no token, outside the simulator's lock
	// (at most one fetch per slot). A started job reads in_progress until
	// its fetch answers: it fails then, or finishes at the end of its run
	// time or at the answer, whichever is later. The answer's time is read
	// from Now, so a caller on a fake clock calls WaitFetches before it
	// moves the clock on. An inline data: URI is decoded at the submit. The file
	// inputs are the fields the manifest takes for files: image for the
	// built-in pika rules, and for catalog models the fields whose format
	// is uri or whose name says file (image, video, audio, …_url).
	FetchInputs bool
	// FetchTimeout bounds one input fetch. Default DefaultFetchTimeout.
	FetchTimeout time.Duration
	// FetchClient fetches inputs. Default: a client of its own, following
	// redirects as the API's downloader would.
	FetchClient *http.Client
	// OnCreate, if set, is called each time a submit creates a job, before
	// the client is answered (whatever the answer), with no lock held: a
	// caller saving Snapshot there never answers for a job it has not saved
	// (the demo's simulator, which outlives a kill -9 that way).
	OnCreate func(requestID string)
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Model == "" {
		c.Model = DefaultModel
	}
	for _, step := range []func() error{c.pacingDefaults, c.Faults.withDefaults, c.answerDefaults, c.balanceDefaults, c.inputDefaults} {
		if err := step(); err != nil {
			return c, err
		}
	}
	if c.Catalog == nil {
		c.Catalog = DefaultCatalog()
	}
	if c.IDPrefix != "" && !isIDPrefix(c.IDPrefix) {
		return c, fmt.Errorf("%w: id prefix %q is not 12 lowercase hex digits", ErrInvalidConfig, c.IDPrefix)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// pacingDefaults checks and fills in how fast jobs run and how much the
// account and the API take at once.
func (c *Config) pacingDefaults() error {
	switch {
	case c.Slots < 0:
		return fmt.Errorf("%w: slots %d is negative", ErrInvalidConfig, c.Slots)
	case c.Slots == 0:
		c.Slots = DefaultSlots
	}
	if c.QueueTime < 0 {
		return fmt.Errorf("%w: queue time %v is negative", ErrInvalidConfig, c.QueueTime)
	}
	switch {
	case c.RunTime < 0:
		return fmt.Errorf("%w: run time %v is negative", ErrInvalidConfig, c.RunTime)
	case c.RunTime == 0:
		c.RunTime = DefaultRunTime
	}
	if err := checkRate("run jitter", c.RunJitter); err != nil {
		return err
	}
	switch {
	case c.VideoSize == 0:
		c.VideoSize = DefaultVideoSize
	case c.VideoSize < MinVideoSize:
		return fmt.Errorf("%w: video size %d is below %d bytes", ErrInvalidConfig, c.VideoSize, MinVideoSize)
	}
	if c.MaxConcurrentSubmits < 0 {
		return fmt.Errorf("%w: max concurrent submits %d is negative", ErrInvalidConfig, c.MaxConcurrentSubmits)
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		return fmt.Errorf("%w: rate limit %v is not a non-negative number", ErrInvalidConfig, c.RateLimit)
	}
	if c.URLTTL < 0 {
		return fmt.Errorf("%w: url ttl %v is negative", ErrInvalidConfig, c.URLTTL)
	}
	return nil
}

// withDefaults checks every rate and fills in the Retry-After of
// injected 429s.
func (f *Faults) withDefaults() error {
	switch {
	case f.RetryAfter < 0:
		return fmt.Errorf("%w: retry after %v is negative", ErrInvalidConfig, f.RetryAfter)
	case f.RetryAfter == 0:
		f.RetryAfter = DefaultRetryAfter
	}
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"429 rate", f.Rate429},
		{"5xx rate", f.Rate5xx},
		{"drop rate", f.RateDrop},
		{"lost response rate", f.RateLostResponse},
		{"truncate rate", f.RateTruncate},
		{"fail rate", f.RateFail},
		{"expire rate", f.RateExpire},
		{"never finish rate", f.RateNeverFinish},
		{"402 rate", f.Rate402},
		{"gateway after create rate", f.RateGatewayAfterCreate},
		{"odd status rate", f.RateOddStatus},
	} {
		if err := checkRate(r.name, r.v); err != nil {
			return err
		}
	}
	return nil
}

// answerDefaults checks and fills in the shape of the answers: timestamp
// precision, error body and the statuses of a bad token and an empty
// balance.
func (c *Config) answerDefaults() error {
	switch c.Timestamps {
	case "":
		c.Timestamps = TimestampsSeconds
	case TimestampsSeconds, TimestampsMillis, TimestampsNone:
	default:
		return fmt.Errorf("%w: timestamps %q is not s, ms or none", ErrInvalidConfig, c.Timestamps)
	}
	switch c.ErrorShape {
	case "":
		c.ErrorShape = ShapeErrorMessage
	case ShapeErrorMessage, ShapeMessageDetail, ShapeNested, ShapeMixed:
	default:
		return fmt.Errorf("%w: error shape %q is not %s, %s, %s or %s", ErrInvalidConfig,
			c.ErrorShape, ShapeErrorMessage, ShapeMessageDetail, ShapeNested, ShapeMixed)
	}
	switch c.BadTokenStatus {
	case 0:
		c.BadTokenStatus = DefaultBadTokenStatus
	case http.StatusUnauthorized, http.StatusBadRequest:
	default:
		return fmt.Errorf("%w: bad token status %d is not 400 or 401", ErrInvalidConfig, c.BadTokenStatus)
	}
	switch c.BalanceStatus {
	case 0:
		c.BalanceStatus = DefaultBalanceStatus
	case http.StatusPaymentRequired, http.StatusBadRequest:
	default:
		return fmt.Errorf("%w: balance status %d is not 402 or 400", ErrInvalidConfig, c.BalanceStatus)
	}
	return nil
}

// balanceDefaults checks the account's balance, in jobs or in dollars.
func (c *Config) balanceDefaults() error {
	if c.BalanceJobs < 0 {
		return fmt.Errorf("%w: balance jobs %d is negative", ErrInvalidConfig, c.BalanceJobs)
	}
	if !(c.BalanceUSD >= 0) || math.IsInf(c.BalanceUSD, 0) {
		return fmt.Errorf("%w: balance %v is not a non-negative number of dollars", ErrInvalidConfig, c.BalanceUSD)
	}
	if c.BalanceUSD > 0 && c.BalanceJobs > 0 {
		return fmt.Errorf("%w: set the balance in jobs or in dollars, not both", ErrInvalidConfig)
	}
	return nil
}

// inputDefaults checks and fills in how submits and their inputs are read.
func (c *Config) inputDefaults() error {
	switch {
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("%w: max body bytes %d is negative", ErrInvalidConfig, c.MaxBodyBytes)
	case c.MaxBodyBytes == 0:
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	switch {
	case c.FetchTimeout < 0:
		return fmt.Errorf("%w: fetch timeout %v is negative", ErrInvalidConfig, c.FetchTimeout)
	case c.FetchTimeout == 0:
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.FetchClient == nil {
		// One fetch per job: keeping connections alive would save little
		// and leave them open after the simulator stops.
		c.FetchClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	return nil
}

func checkRate(name string, v float64) error {
	if !(v >= 0 && v <= 1) { // also rejects NaN
		return fmt.Errorf("%w: %s %v is outside [0, 1]", ErrInvalidConfig, name, v)
	}
	return nil
}

// isIDPrefix reports whether p is 12 lowercase hex digits.
func isIDPrefix(p string) bool {
	if len(p) != idPrefixLen {
		return false
	}
	for _, r := range p {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}
