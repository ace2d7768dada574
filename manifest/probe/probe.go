// Package probe asks image hosts whether a manifest's images can be
// fetched the way the Model API will fetch them: reachable without login,
// an image, and within the API's size limit. A broken URL found before a run
// costs nothing; found by the API, it costs a failed job.
//
// Each URL is asked once with HEAD; when HEAD is refused or says too little
// (many storage hosts sign URLs for GET only, some omit the type or length),
// a GET of the first bytes (Range: bytes=0-1023) answers instead, and the
// bytes are sniffed when the type is missing. The client given never
// carries the API token.
//
// It checks a manifest's URLs, for `pikabatch validate --check-urls`, and
// uses nothing of the runner, so it sits under manifest; it is a package of
// its own because it does network I/O, which manifest itself never does.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// MaxImageBytes is the Model API's limit on a source image (50 MB).
const MaxImageBytes = 50 << 20

// sniffBytes is how much of an image a ranged GET asks for.
const sniffBytes = 1024

// Config tunes a Checker. Zero values take the defaults.
type Config struct {
	// Concurrency bounds requests in flight. Default 8.
	Concurrency int
	// RPS bounds requests per second across all hosts (HEAD and GET
	// count alike). Default 10; negative means unlimited.
	RPS float64
	// MaxBytes is the largest acceptable image. Default MaxImageBytes.
	MaxBytes int64
	// Timeout bounds one URL's check. Default 20s.
	Timeout time.Duration
	// HTTPClient makes the requests. Default: a plain client. It must not
	// carry the API token.
	HTTPClient *http.Client
}

// Result is the verdict on one URL.
type Result struct {
	URL         string `json:"url"`
	OK          bool   `json:"ok"`
	Status      int    `json:"status,omitempty"` // HTTP status of the answer used
	Method      string `json:"method,omitempty"` // HEAD or GET
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size"` // bytes; -1 when the host did not say
	// Problem says why the URL would fail a job; empty when OK.
	Problem string `json:"problem,omitempty"`
}

// Checker checks URLs, each once however many rows name it.
type Checker struct {
	cfg     Config
	limiter *rate.Limiter

	mu   sync.Mutex
	seen map[string]*entry
}

type entry struct {
	done chan struct{}
	res  Result
}

// New returns a Checker.
func New(cfg Config) *Checker {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.RPS == 0 {
		cfg.RPS = 10
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = MaxImageBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	c := &Checker{cfg: cfg, seen: map[string]*entry{}}
	if cfg.RPS > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RPS), max(1, int(cfg.RPS/10)))
	}
	return c
}

// Item is one URL to check, with whatever the caller needs back.
type Item[T any] struct {
	URL  string
	Data T
}

// Run checks every item of next (until it returns false) with at most
// Config.Concurrency checks at once and calls report with each item's result,
// in no particular order and never concurrently. It returns ctx's error if
// ctx ends first.
func Run[T any](ctx context.Context, c *Checker, next func() (Item[T], bool), report func(Item[T], Result)) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	var mu sync.Mutex
	for {
		it, ok := next()
		if !ok {
			break
		}
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			res, err := c.Check(gctx, it.URL)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			report(it, res)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// Check returns the verdict on rawURL, asking its host only the first time.
// The error is ctx's, when it ends first; a host's failure is a Result.
func (c *Checker) Check(ctx context.Context, rawURL string) (Result, error) {
	c.mu.Lock()
	e, ok := c.seen[rawURL]
	if !ok {
		e = &entry{done: make(chan struct{})}
		c.seen[rawURL] = e
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-e.done:
			return e.res, nil
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	e.res = c.check(ctx, rawURL)
	close(e.done)
	if err := ctx.Err(); err != nil {
		return e.res, err
	}
	return e.res, nil
}

func (c *Checker) check(ctx context.Context, rawURL string) Result {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	res := c.head(ctx, rawURL)
	if res.OK || ctx.Err() != nil || res.Status == http.StatusNotFound || res.Status == http.StatusGone {
		return res
	}
	// HEAD refused, failed or said too little: ask for the first bytes.
	return c.get(ctx, rawURL)
}

func (c *Checker) do(ctx context.Context, req *http.Request) (*http.Response, error) {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, err
		}
	}
	req.Header.Set("User-Agent", "pikabatch-probe")
	return c.cfg.HTTPClient.Do(req)
}

func (c *Checker) head(ctx context.Context, rawURL string) Result {
	res := Result{URL: rawURL, Method: http.MethodHead, Size: -1}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, rawURL, nil)
	if err != nil {
		res.Problem = requestProblem(err)
		return res
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		res.Problem = requestProblem(err)
		return res
	}
	_ = resp.Body.Close()
	res.Status = resp.StatusCode
	res.ContentType = mediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode/100 == 2 {
		res.Size = resp.ContentLength
	}
	c.judge(&res)
	if res.OK && res.Size < 0 {
		// The type is right but the size unknown: a GET may tell.
		res.OK, res.Problem = false, "size unknown"
	}
	return res
}

func (c *Checker) get(ctx context.Context, rawURL string) Result {
	res := Result{URL: rawURL, Method: http.MethodGet, Size: -1}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		res.Problem = requestProblem(err)
		return res
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=0-%d", sniffBytes-1))
	resp, err := c.do(ctx, req)
	if err != nil {
		res.Problem = requestProblem(err)
		return res
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	res.ContentType = mediaType(resp.Header.Get("Content-Type"))
	switch resp.StatusCode {
	case http.StatusPartialContent:
		res.Size = totalFromContentRange(resp.Header.Get("Content-Range"))
	case http.StatusOK:
		res.Size = resp.ContentLength // the host ignored Range: the whole file's length
	}
	if res.ContentType == "" || res.ContentType == "application/octet-stream" || res.ContentType == "binary/octet-stream" {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, sniffBytes))
		if len(head) > 0 {
			res.ContentType = mediaType(http.DetectContentType(head))
		}
	}
	c.judge(&res)
	if res.OK && res.Size < 0 {
		res.Problem = "" // reachable and an image; only the size is unknown
	}
	return res
}

// judge sets OK and Problem from what the host said.
func (c *Checker) judge(res *Result) {
	switch {
	case res.Status < 200 || res.Status > 299:
		res.Problem = fmt.Sprintf("HTTP %d %s", res.Status, http.StatusText(res.Status))
		if res.Status == http.StatusUnauthorized || res.Status == http.StatusForbidden {
			res.Problem += ": the host wants a login or the link expired; the API fetches without credentials"
		}
	case !strings.HasPrefix(res.ContentType, "image/"):
		ct := res.ContentType
		if ct == "" {
			ct = "no content type"
		}
		res.Problem = "not an image (" + ct + ")"
	case res.Size > c.cfg.MaxBytes:
		res.Problem = fmt.Sprintf("%d bytes, over the %d MB limit", res.Size, c.cfg.MaxBytes>>20)
	default:
		res.OK, res.Problem = true, ""
	}
}

// mediaType is the media type of a Content-Type, printable: it is shown to
// the user, and Go's header parsing lets C1 controls and bidi overrides
// through.
func mediaType(v string) string {
	if v == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return printable(strings.ToLower(strings.TrimSpace(v)))
	}
	return printable(mt)
}

// printable escapes, as %q does (\u009b), every character a terminal might
// act on: controls, format characters such as bidi overrides, invalid UTF-8.
func printable(s string) string {
	var b strings.Builder
	clean := 0 // s[:clean] is in b, or would be
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == ' ' || unicode.IsPrint(r) && !(r == utf8.RuneError && size == 1) {
			i += size
			continue
		}
		b.WriteString(s[clean:i])
		q := strconv.QuoteToASCII(s[i : i+size])
		b.WriteString(q[1 : len(q)-1])
		i += size
		clean = i
	}
	if clean == 0 {
		return s
	}
	b.WriteString(s[clean:])
	return b.String()
}

// totalFromContentRange reads the total of "bytes 0-1023/123456"; -1 when absent or "*".
func totalFromContentRange(v string) int64 {
	i := strings.LastIndexByte(v, '/')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(v[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// requestProblem describes a failed request without its URL, which may hold
// secrets (the caller shows a redacted one).
func requestProblem(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return printable(ue.Unwrap().Error())
	}
	return printable(err.Error())
}
