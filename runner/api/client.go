package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/runner/backoff"
)

// Version is sent as the User-Agent "pikabatch/<Version>". Release builds set
// it with -ldflags "-X github.com/pikabatch/pikabatch/runner/api.Version=v1.2.3".
var Version = "dev"

// DefaultBaseURL is the Model API's base URL.
const DefaultBaseURL = "https://model-api.runcomfy.net"

// Defaults for Config.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxRetries     = 6
	DefaultBackoffBase    = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultSubmitGrace    = 15 * time.Second
)

const (
	maxRedirects = 10
	// maxBodyBytes bounds a 2xx body; a result lists a few URLs.
	maxBodyBytes = 4 << 20
	// maxErrorBodyBytes bounds what is read of an error body, and drained
	// of any body so that the connection can be reused.
	maxErrorBodyBytes = 64 << 10
	// maxRetryAfter bounds a parsed Retry-After, so that no header can
	// overflow a time.Duration. The caller's ctx bounds the actual wait.
	maxRetryAfter = 24 * time.Hour
	// apiVersionPath ends the paths the client builds. A base URL may end
	// with it too (RunComfy's own MCP server is configured that way).
	apiVersionPath = "/v1"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the API's base URL; default DefaultBaseURL. It must use
	// https unless the host is loopback (localhost, 127.0.0.0/8, ::1). It
	// may have a path prefix, but no credentials, query or fragment. A
	// trailing "/v1" is optional: "https://h" and "https://h/v1" both
	// submit to https://h/v1/models/{model}.
	BaseURL string
	// BalanceURL is the base of the balance endpoint, GET
	// {BalanceURL}/prod/v2/balance (a trailing /prod/v2 is optional), held
	// to the same rules as BaseURL. It is the only other origin the token
	// goes to. Empty means DefaultBalanceURL when BaseURL is RunComfy's
	// own, and BaseURL's origin otherwise (a simulator or staging host
	// serves its balance beside its API).
	BalanceURL string
	// Token is the API token; required.
	Token Token
	// HTTPClient sends the requests; default: a client with dial and TLS
	// timeouts and a keep-alive pool sized for a batch. The Client uses a
	// copy whose CheckRedirect refuses redirects to another origin (so the
	// token is never sent there) and redirects that turn a POST into a GET;
	// the given client's own CheckRedirect still runs for the others.
	HTTPClient *http.Client
	// Limiter, if set, is waited on right before every HTTP request,
	// retries and followed redirects included. Its rate adapts: a 429
	// halves it (at most once a second, down to a twentieth), and calls
	// that succeed bring it back to the configured rate over about 20s.
	Limiter *rate.Limiter
	// FixedRate keeps Limiter's rate as configured, 429s or not.
	FixedRate bool
	// RequestTimeout bounds each HTTP request, from sending it to reading
	// the whole answer; default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// SubmitGrace is how long a submit already going out may still wait
	// for its answer once the caller's ctx is done, so that the request ID
	// of a job the API created is still returned; default
	// DefaultSubmitGrace. RequestTimeout still bounds the whole request.
	SubmitGrace time.Duration
	// MaxRetries is the number of retries per call on transient errors;
	// 0 means DefaultMaxRetries, negative means none.
	MaxRetries int
	// BackoffBase and BackoffMax shape the wait before retry n (from 0): a
	// uniform random duration in [0, min(BackoffMax, BackoffBase*2^n)), or
	// the server's Retry-After when that is longer. Defaults
	// DefaultBackoffBase and DefaultBackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Logger receives Debug lines per request and Warn lines per retry;
	// default: discard.
	Logger *slog.Logger
	// Sleep waits d or until ctx is done, returning ctx's error then. It is
	// called from concurrent calls. Default: a timer in a select with ctx.Done().
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for the backoff jitter; calls to it are
	// serialised. Default: math/rand/v2.
	Rand func() float64
}

// Client calls the Model API. It is safe for concurrent use.
type Client struct {
	base          *url.URL // scheme and host: the API's origin, which gets the token
	prefix        string   // scheme://host/path-prefix, no trailing slash
	balance       *url.URL // scheme and host of the balance endpoint: the only other origin that gets the token
	balancePrefix string   // scheme://host/path-prefix of the balance endpoint, without /prod/v2
	auth          string   // Authorization header value
	secrets       []string // forms of the token scrubbed from response text
	hc            *http.Client
	limiter       *rate.Limiter
	pace          *pacer         // hands limiter tokens to urgent calls first
	adapt         *adaptiveLimit // nil: the limiter's rate is fixed
	timeout       time.Duration
	grace         time.Duration // Config.SubmitGrace
	maxRetries    int
	retryWait     backoff.Policy // before retry n of a call, unless Retry-After says longer
	log           *slog.Logger
	sleep         func(ctx context.Context, d time.Duration) error
	now           func() time.Time
	stopSeen      func() // test hook: a submit attempt saw its ctx end

	calls struct {
		submit, status, result, cancel, retries, rateLimited, slowdowns atomic.Int64
		pollsLimited                                                    atomic.Int64 // 429s on other calls than submit
	}
}

// Calls counts a Client's HTTP requests by kind (every attempt counts), the
// retries among them, the 429 answers received and the times they made the
// client slow its limiter down. Its JSON form is what run --json, status
// --json, the control socket and the notify payload print as "api_calls".
type Calls struct {
	Submit      int64 `json:"submit"`
	Status      int64 `json:"status"`
	Result      int64 `json:"result"`
	Cancel      int64 `json:"cancel"`
	Retries     int64 `json:"retries"`
	RateLimited int64 `json:"rate_limited"`
	// PollsRateLimited counts the 429s of RateLimited on status, result
	// and cancel calls: a rate limit's, never the account's limit on jobs
	// at once, which refuses only submits.
	PollsRateLimited int64 `json:"polls_rate_limited"`
	Slowdowns        int64 `json:"slowdowns"`
}

// New checks cfg and returns a Client. It fails with ErrInsecureBase for an
// http base URL whose host is not loopback, ErrNoToken for an empty token and
// ErrInvalidToken for a token no header can carry.
func New(cfg Config) (*Client, error) {
	base, err := parseBase(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	bal, err := balanceBase(cfg, base)
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, ErrNoToken
	}
	if !validToken(string(cfg.Token)) {
		return nil, ErrInvalidToken
	}
	c := &Client{
		base:          &url.URL{Scheme: base.Scheme, Host: base.Host},
		prefix:        base.Scheme + "://" + base.Host + basePath(base),
		balance:       &url.URL{Scheme: bal.Scheme, Host: bal.Host},
		balancePrefix: balancePrefixOf(bal),
		auth:          "Bearer " + string(cfg.Token),
		secrets:       tokenForms(string(cfg.Token)),
		limiter:       cfg.Limiter,
		timeout:       cfg.RequestTimeout,
		grace:         cfg.SubmitGrace,
		maxRetries:    cfg.MaxRetries,
		retryWait:     backoff.Policy{Base: cfg.BackoffBase, Max: cfg.BackoffMax, Rand: cfg.Rand},
		log:           cfg.Logger,
		sleep:         cfg.Sleep,
		now:           time.Now,
	}
	c.setDefaults(cfg)
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	own := *hc
	own.CheckRedirect = c.checkRedirect(hc.CheckRedirect)
	c.hc = &own
	return c, nil
}

// setDefaults fills in what cfg left zero, and the collaborators built
// from it: the adaptive rate, the pacer and the serialised jitter.
func (c *Client) setDefaults(cfg Config) {
	if !cfg.FixedRate {
		c.adapt = newAdaptiveLimit(cfg.Limiter)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.grace <= 0 {
		c.grace = DefaultSubmitGrace
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.retryWait.Base <= 0 {
		c.retryWait.Base = DefaultBackoffBase
	}
	if c.retryWait.Max <= 0 {
		c.retryWait.Max = DefaultBackoffMax
	}
	c.retryWait.Max = max(c.retryWait.Max, c.retryWait.Base)
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.sleep == nil {
		c.sleep = backoff.Sleep
	}
	c.pace = newPacer(cfg.Limiter, backoff.Sleep)
	if cfg.Rand != nil {
		var mu sync.Mutex
		c.retryWait.Rand = func() float64 {
			mu.Lock()
			defer mu.Unlock()
			return cfg.Rand()
		}
	}
}

func defaultHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	}
	t.DialContext = dialer.DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.IdleConnTimeout = 90 * time.Second
	t.MaxIdleConns = 100
	// A batch keeps many calls in flight to one host; the default of 2 idle
	// connections per host would redial for most of them.
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t}
}

// Calls returns the counts of requests made so far.
func (c *Client) Calls() Calls {
	return Calls{
		Submit:           c.calls.submit.Load(),
		Status:           c.calls.status.Load(),
		Result:           c.calls.result.Load(),
		Cancel:           c.calls.cancel.Load(),
		Retries:          c.calls.retries.Load(),
		RateLimited:      c.calls.rateLimited.Load(),
		PollsRateLimited: c.calls.pollsLimited.Load(),
		Slowdowns:        c.calls.slowdowns.Load(),
	}
}

// CloseIdleConnections closes the HTTP client's idle keep-alive connections,
// e.g. at the end of a run.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// String describes the client without its token.
func (c *Client) String() string { return "api.Client{" + c.prefix + "}" }

// Format prints String for every verb: the Client's fields hold the token,
// and fmt would print unexported fields verbatim.
func (c *Client) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the base URL only.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c *Client) count(op string) {
	switch op {
	case opSubmit:
		c.calls.submit.Add(1)
	case opStatus:
		c.calls.status.Add(1)
	case opResult:
		c.calls.result.Add(1)
	case opCancel:
		c.calls.cancel.Add(1)
	}
}
