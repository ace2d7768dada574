// Package probe asks image hosts whether a manifest's images can be
// fetched the way the Model API will fetch them: reachable without login,
// an image, and within the API's size limit. A broken URL found before a run
// costs nothing; found by the API, it costs a failed job.
//
// Each URL is asked once, with a GET of its first bytes (Range:
// bytes=0-1023): many storage hosts sign URLs for GET only, some omit the
// type or length from a HEAD, and only the bytes tell a file from an HTML
// page (a login, a soft 404) served under the file's name and type. The
// bytes are sniffed: a page or text is refused whatever type the host
// declared, and a missing or generic type is taken from them. The client
// given never carries the API token.
//
// Memory stays bounded at any manifest size: Run reads at most a window of
// items ahead of the one it reports next (they come back in the order
// read), and a Checker remembers the verdicts of the CacheSize URLs asked
// most recently, so that a manifest naming one image on many rows asks
// its host once without keeping every URL it ever saw.
//
// A bucket URL (s3://, gs://, azblob://) is asked of the bucket instead,
// through Config.Objects: the object must exist and be of the field's
// kind. A local file the manifest recorded (file:PATH#sha256=…) was read
// when the manifest was, and is passed.
//
// It checks a manifest's URLs, for `pikabatch validate --check-urls`, and
// uses nothing of the runner, so it sits under manifest; it is a package of
// its own because it does network I/O, which manifest itself never does.
package probe

import (
	"container/list"
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

	"github.com/pikabatch/pikabatch/manifest"
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
	// CacheSize bounds the verdicts kept for URLs asked again, the most
	// recently used. Default 1024 (a few hundred kB at most).
	CacheSize int
	// Objects answers for bucket URLs (s3://, gs://, azblob://), which
	// are checked through the bucket's API; nil: each is reported not
	// checked.
	Objects Objects
}

// windowPerCheck is how many items Run reads ahead per check in flight.
// Results are reported in the order read, so a slow URL holds back the
// report of every item after it; the window lets the other checks go on
// for three more rounds meanwhile, at the cost of a few hundred bytes per
// item.
const windowPerCheck = 4

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

// Checker checks URLs, each once however many rows name it (as long as
// its verdict is among the Config.CacheSize most recently used).
type Checker struct {
	cfg     Config
	limiter *rate.Limiter

	mu       sync.Mutex
	inFlight map[string]*entry        // checks under way: at most Concurrency
	cached   map[string]*list.Element // of recent, each a *verdict
	recent   list.List                // most recently used first

	// Figures for tests (export_test.go): the most verdicts cached and
	// items read ahead at once.
	peakCached, peakWindow int
}

type entry struct {
	done chan struct{}
	res  Result
}

type verdict struct {
	url string
	res Result
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
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 1024
	}
	c := &Checker{cfg: cfg, inFlight: map[string]*entry{}, cached: map[string]*list.Element{}}
	if cfg.RPS > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RPS), max(1, int(cfg.RPS/10)))
	}
	return c
}

// Kind is what a URL must serve: what the model's field expects.
type Kind string

// Kinds of file a field takes.
const (
	KindImage Kind = "image"
	KindVideo Kind = "video"
	KindAudio Kind = "audio"
)

// KindOf is the kind of file a model's input field takes, by its name:
// video_url and audio_url (or any name with video or audio in it) take
// those, every other URL field an image.
func KindOf(field string) Kind {
	f := strings.ToLower(field)
	switch {
	case strings.Contains(f, "video"):
		return KindVideo
	case strings.Contains(f, "audio"):
		return KindAudio
	}
	return KindImage
}

// article is "a" or "an" before k.
func (k Kind) article() string {
	if k == KindImage || k == KindAudio {
		return "an " + string(k)
	}
	return "a " + string(k)
}

// Item is one URL to check, with whatever the caller needs back. Kind is
// what it must serve; zero means KindImage.
type Item[T any] struct {
	URL  string
	Kind Kind
	Data T
}

// Run checks every item of next (until it returns false) with at most
// Config.Concurrency checks at once and calls report with each item's
// result in the order next gave the items, never concurrently. It reads
// at most windowPerCheck×Concurrency items ahead of the one it reports
// next. It returns ctx's error if ctx ends first; then the items not yet
// reported are not.
func Run[T any](ctx context.Context, c *Checker, next func() (Item[T], bool), report func(Item[T], Result)) error {
	type pending struct {
		it  Item[T]
		res chan Result // buffered: a check never waits for the report
	}
	window := windowPerCheck * c.cfg.Concurrency
	slots := make(chan struct{}, window) // one per item read and not reported
	queue := make(chan pending, window)  // never full: slots bound it
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	// failed is closed when a check ends without a result (ctx ended).
	// Not gctx: Wait cancels it too, while results wait to be reported.
	failed := make(chan struct{})
	var failOnce sync.Once

	reported := make(chan struct{})
	go func() {
		defer close(reported)
		for p := range queue {
			select {
			case res := <-p.res:
				report(p.it, res)
			case <-failed:
				return // the run stops: nothing more is reported
			}
			<-slots
		}
	}()

read:
	for {
		select {
		case slots <- struct{}{}:
		case <-gctx.Done():
			break read
		}
		if gctx.Err() != nil {
			break
		}
		it, ok := next()
		if !ok {
			break
		}
		c.noteWindow(len(slots))
		p := pending{it: it, res: make(chan Result, 1)}
		queue <- p
		g.Go(func() error {
			res, err := c.CheckKind(gctx, it.URL, it.Kind)
			if err != nil {
				failOnce.Do(func() { close(failed) })
				return err
			}
			p.res <- res
			return nil
		})
	}
	close(queue)
	err := g.Wait()
	<-reported
	if err != nil {
		return err
	}
	return ctx.Err()
}

// CheckKind is Check for a URL that must serve kind (zero: KindImage).
func (c *Checker) CheckKind(ctx context.Context, rawURL string, kind Kind) (Result, error) {
	if kind == "" {
		kind = KindImage
	}
	key := string(kind) + " " + rawURL // the same URL may be asked as another kind
	c.mu.Lock()
	if el, ok := c.cached[key]; ok {
		c.recent.MoveToFront(el)
		res := el.Value.(*verdict).res
		c.mu.Unlock()
		return res, nil
	}
	e, ok := c.inFlight[key]
	if !ok {
		e = &entry{done: make(chan struct{})}
		c.inFlight[key] = e
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
	e.res = c.check(ctx, rawURL, kind)
	err := ctx.Err()
	c.mu.Lock()
	delete(c.inFlight, key)
	if err == nil {
		// A check cut short says nothing about the URL: not remembered.
		c.remember(key, e.res)
	}
	c.mu.Unlock()
	close(e.done)
	return e.res, err
}

// remember caches res for rawURL, forgetting the least recently used
// verdict past Config.CacheSize. c.mu is held.
func (c *Checker) remember(rawURL string, res Result) {
	c.cached[rawURL] = c.recent.PushFront(&verdict{url: rawURL, res: res})
	if c.recent.Len() > c.cfg.CacheSize {
		old := c.recent.Back()
		c.recent.Remove(old)
		delete(c.cached, old.Value.(*verdict).url)
	}
	c.peakCached = max(c.peakCached, c.recent.Len())
}

func (c *Checker) noteWindow(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.peakWindow = max(c.peakWindow, n)
}

func (c *Checker) check(ctx context.Context, rawURL string, kind Kind) Result {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if manifest.IsBucketURL(rawURL) {
		return c.checkObject(ctx, rawURL, kind)
	}
	if ref, ok := manifest.ParseLocalRef(rawURL); ok {
		return checkLocal(rawURL, ref)
	}
	return c.get(ctx, rawURL, kind)
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

func (c *Checker) get(ctx context.Context, rawURL string, kind Kind) Result {
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
	var sniffed string
	if resp.StatusCode/100 == 2 {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, sniffBytes))
		if len(head) > 0 {
			sniffed = mediaType(http.DetectContentType(head))
		}
	}
	if isGeneric(res.ContentType) && sniffed != "" {
		res.ContentType = sniffed
	}
	c.judge(&res, kind, sniffed)
	return res
}

// isMedia reports an image, video or audio type.
func isMedia(ct string) bool {
	family, _, _ := strings.Cut(ct, "/")
	return family == string(KindImage) || family == string(KindVideo) || family == string(KindAudio)
}

// isGeneric reports a content type that says nothing of the file.
func isGeneric(ct string) bool {
	return ct == "" || ct == "application/octet-stream" || ct == "binary/octet-stream"
}

// judge sets OK and Problem from what the host said and what its first
// bytes were sniffed as (sniffed: "" when none came).
func (c *Checker) judge(res *Result, kind Kind, sniffed string) {
	switch {
	case res.Status < 200 || res.Status > 299:
		res.Problem = fmt.Sprintf("HTTP %d %s", res.Status, http.StatusText(res.Status))
		if res.Status == http.StatusUnauthorized || res.Status == http.StatusForbidden {
			res.Problem += ": the host wants a login or the link expired; the API fetches without credentials"
		}
	case !strings.HasPrefix(res.ContentType, string(kind)+"/"):
		ct := res.ContentType
		if ct == "" {
			ct = "no content type"
		}
		res.Problem = "not " + kind.article() + " (" + ct + ")"
	case strings.HasPrefix(sniffed, "text/") && !(sniffed == "text/xml" && strings.HasSuffix(res.ContentType, "+xml")):
		// A login or error page served under the file's name: the host's
		// type comes from the extension, the bytes are a page.
		what := "text"
		if sniffed == "text/html" || sniffed == "text/xml" {
			what = "an " + strings.ToUpper(strings.TrimPrefix(sniffed, "text/")) + " page"
		}
		res.Problem = fmt.Sprintf("not %s: %s served as %s", kind.article(), what, res.ContentType)
	case isMedia(sniffed) && !strings.HasPrefix(sniffed, string(kind)+"/"):
		res.Problem = fmt.Sprintf("not %s: the bytes are %s, served as %s", kind.article(), sniffed, res.ContentType)
	case res.Size == 0:
		res.Problem = "an empty file"
	case res.Size > c.cfg.MaxBytes:
		res.Problem = fmt.Sprintf("%d bytes, over the %d MB limit", res.Size, c.cfg.MaxBytes>>20)
	default:
		// Reachable and of the right kind; a size of -1 is unknown.
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
