package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultModel      = "pika/pika-2-2/image-to-video"
	DefaultSlots      = 4
	DefaultRunTime    = 2 * time.Second
	DefaultVideoSize  = 64 << 10
	DefaultRetryAfter = time.Second
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
	// Rate402 is the fraction of valid submits answered 402 insufficient
	// credits.
	Rate402 float64
}

// Config configures a Server. The zero value is usable: every zero field takes
// its default.
type Config struct {
	// Token is the bearer token required on API requests. Empty means a
	// random one is generated; Server.Token returns it.
	Token string
	// Model is the only model ID accepted by submit; others get 404.
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
	// Seed seeds every random choice: faults, jitter, request IDs, URL
	// signatures and video bytes. The generated Token is not derived from it.
	Seed int64
	// Now is the clock. Default time.Now. Tests inject a fake clock to move
	// jobs through their states; it should not go backwards (if it does, the
	// simulator holds its last reading).
	Now func() time.Time
	// Logger receives debug records of injected faults and server errors.
	// Default: discard.
	Logger *slog.Logger
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Model == "" {
		c.Model = DefaultModel
	}
	switch {
	case c.Slots < 0:
		return c, fmt.Errorf("%w: slots %d is negative", ErrInvalidConfig, c.Slots)
	case c.Slots == 0:
		c.Slots = DefaultSlots
	}
	if c.QueueTime < 0 {
		return c, fmt.Errorf("%w: queue time %v is negative", ErrInvalidConfig, c.QueueTime)
	}
	switch {
	case c.RunTime < 0:
		return c, fmt.Errorf("%w: run time %v is negative", ErrInvalidConfig, c.RunTime)
	case c.RunTime == 0:
		c.RunTime = DefaultRunTime
	}
	if err := checkRate("run jitter", c.RunJitter); err != nil {
		return c, err
	}
	switch {
	case c.VideoSize == 0:
		c.VideoSize = DefaultVideoSize
	case c.VideoSize < MinVideoSize:
		return c, fmt.Errorf("%w: video size %d is below %d bytes", ErrInvalidConfig, c.VideoSize, MinVideoSize)
	}
	if c.MaxConcurrentSubmits < 0 {
		return c, fmt.Errorf("%w: max concurrent submits %d is negative", ErrInvalidConfig, c.MaxConcurrentSubmits)
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		return c, fmt.Errorf("%w: rate limit %v is not a non-negative number", ErrInvalidConfig, c.RateLimit)
	}
	if c.URLTTL < 0 {
		return c, fmt.Errorf("%w: url ttl %v is negative", ErrInvalidConfig, c.URLTTL)
	}
	f := &c.Faults
	switch {
	case f.RetryAfter < 0:
		return c, fmt.Errorf("%w: retry after %v is negative", ErrInvalidConfig, f.RetryAfter)
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
	} {
		if err := checkRate(r.name, r.v); err != nil {
			return c, err
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func checkRate(name string, v float64) error {
	if !(v >= 0 && v <= 1) { // also rejects NaN
		return fmt.Errorf("%w: %s %v is outside [0, 1]", ErrInvalidConfig, name, v)
	}
	return nil
}
