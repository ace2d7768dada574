package sim

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pikabatch/pikabatch/manifest"
)

// DefaultFetchTimeout bounds one input fetch when Config.FetchTimeout is
// zero.
const DefaultFetchTimeout = 30 * time.Second

// maxFetchBytes is how much of an input the simulator reads: more than the
// API takes of any file, and it is only read to prove it can be.
const maxFetchBytes = 64 << 20

// fetchFields returns the file inputs of each model the simulator serves,
// judged as the manifest judges them (a "uri" format, or a name such as
// image or video_url). The built-in pika rules know one file input, image,
// whatever the catalog says of Model.
func fetchFields(cfg Config, catalog map[string]*catalogEntry) (map[string][]string, error) {
	out := map[string][]string{cfg.Model: {"image"}}
	for id, e := range catalog {
		if id == cfg.Model || len(e.InputSchema) == 0 {
			continue
		}
		sch, err := manifest.CompileSchema(id, e.InputSchema)
		if err != nil {
			return nil, fmt.Errorf("%w: catalog model %s: file inputs: %w", ErrInvalidConfig, id, err)
		}
		out[id] = sch.FileFields()
	}
	return out, nil
}

// fetchInput is one file input of a job to GET when it starts.
type fetchInput struct{ field, url string }

// fetches tracks the input fetches of started jobs. Fields other than ctx
// and stop are guarded by Server.mu.
type fetches struct {
	ctx    context.Context // cancelled by Close: cuts the fetches in flight
	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed bool
	n      int           // fetches in flight; at most the slots, as each holds one
	idle   chan struct{} // closed when n drops to zero, for WaitFetches
}

func newFetches() fetches {
	ctx, stop := context.WithCancel(context.Background())
	return fetches{ctx: ctx, stop: stop}
}

// fileInputs sorts a submission's file inputs with Config.FetchInputs: an
// inline input (a data: URI) is decoded now, as there is nothing to fetch
// and no reason to keep its bytes until the job starts, and the others are
// returned to be fetched when it does. failure is the job's failure
// message when an inline input is not base64 ("" when none).
func (s *Server) fileInputs(sub submission) (urls []fetchInput, failure string) {
	if !s.cfg.FetchInputs {
		return nil, ""
	}
	fields := slices.Clone(s.fetchFields[sub.model])
	slices.Sort(fields)
	for _, f := range fields {
		v, ok := sub.in[f].(string)
		if !ok || v == "" {
			continue
		}
		if _, payload, ok := parseDataURI(v); ok {
			if _, err := base64.StdEncoding.DecodeString(payload); err != nil && failure == "" {
				failure = s.fetchFailure(f, "the data: URI is not valid base64")
			}
			continue
		}
		urls = append(urls, fetchInput{field: f, url: v})
	}
	return urls, failure
}

// startFetch fetches the inputs of j, which has just taken a slot, outside
// the lock since a fetch takes as long as the input's host; the answer's
// time, on the configured clock, is when the job can fail or finish.
// s.mu must be held.
func (s *Server) startFetch(j *job) {
	f := &s.fetches
	if f.closed {
		return // the job stays in progress; a Snapshot requeues it
	}
	f.n++
	f.wg.Add(1)
	urls := j.fetchURLs
	go func() {
		defer f.wg.Done()
		failure := s.fetchInputs(f.ctx, urls)
		s.mu.Lock()
		defer s.mu.Unlock()
		if !f.closed {
			now := s.clock()
			s.acct.fetched(j, now, failure)
			s.advance(now)
		}
		if f.n--; f.n == 0 && f.idle != nil {
			close(f.idle)
			f.idle = nil
		}
	}()
}

// WaitFetches advances the simulator to its clock and waits until no
// input fetch (Config.FetchInputs) is in flight, for a caller on a fake
// clock that must see each started job's fetch answered before it moves
// the clock on. It returns ctx's error if ctx ends first.
func (s *Server) WaitFetches(ctx context.Context) error {
	for {
		s.mu.Lock()
		s.advance(s.clock())
		f := &s.fetches
		if f.n == 0 {
			s.mu.Unlock()
			return nil
		}
		if f.idle == nil {
			f.idle = make(chan struct{})
		}
		idle := f.idle
		s.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close cancels the input fetches in flight and waits for them to return.
// A job whose fetch was cut stays in progress. The Server still answers
// afterwards but starts no fetch. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	s.fetches.closed = true
	s.mu.Unlock()
	s.fetches.stop()
	s.fetches.wg.Wait()
}

// fetchInputs GETs each file input in urls, as the API does before it
// generates, and returns the failure message of the job when one cannot be
// fetched ("" when all could). The message names the field and what went
// wrong, never the URL: a pre-signed URL is a credential, and a client
// keeps a job's error.
func (s *Server) fetchInputs(ctx context.Context, urls []fetchInput) string {
	for _, in := range urls {
		if reason := s.fetch(ctx, in.url); reason != "" {
			if ctx.Err() != nil {
				return "" // cut by Close: not the input's fault, and not recorded
			}
			return s.fetchFailure(in.field, reason)
		}
	}
	return ""
}

// fetchFailure counts a failed input and returns its job's message.
func (s *Server) fetchFailure(field, reason string) string {
	s.mu.Lock()
	s.c.InputFetchFailures++
	s.mu.Unlock()
	s.cfg.Logger.Debug("sim input fetch failed", "field", field, "reason", reason)
	return fmt.Sprintf("generation failed: input %s could not be fetched: %s", field, reason)
}

// fetch GETs one input and returns why it failed, or "".
func (s *Server) fetch(ctx context.Context, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "not an http or https URL"
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return "not an http or https URL"
	}
	s.mu.Lock()
	s.c.InputFetches++
	s.mu.Unlock()
	resp, err := s.cfg.FetchClient.Do(req)
	if err != nil {
		// The error text holds the URL, and with it any signature.
		var ue *url.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ue) && ue.Timeout() {
			return fmt.Sprintf("no answer within %v", s.cfg.FetchTimeout)
		}
		return "host unreachable"
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxFetchBytes)); err != nil {
		return "the download was cut off"
	}
	return ""
}

// isImageDataURI reports whether s is a base64 data: URI of an image type
// the API takes inline.
func isImageDataURI(s string) bool {
	mediaType, _, ok := parseDataURI(s)
	if !ok {
		return false
	}
	switch mediaType {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return true
	}
	return false
}

// parseDataURI splits a base64 data: URI ("data:TYPE[;params];base64,…")
// into its media type and payload.
func parseDataURI(s string) (mediaType, payload string, ok bool) {
	rest, found := strings.CutPrefix(s, "data:")
	if !found {
		return "", "", false
	}
	head, payload, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	params := strings.Split(head, ";")
	if len(params) < 2 || params[len(params)-1] != "base64" {
		return "", "", false
	}
	return strings.ToLower(params[0]), payload, true
}
