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

// fetchSubmitted fetches a submission's inputs with Config.FetchInputs,
// outside the lock since a fetch takes as long as the input's host. It
// returns the job's failure message ("" for none), and whether the client
// hung up meanwhile.
func (s *Server) fetchSubmitted(ctx context.Context, sub submission) (string, bool) {
	if !s.cfg.FetchInputs {
		return "", false
	}
	failure := s.fetchInputs(ctx, sub.model, sub.in)
	return failure, ctx.Err() != nil
}

// fetchInputs GETs each file input of in, as the API does before it
// generates, and returns the failure message of the job when one cannot be
// fetched ("" when all could). The message names the field and what went
// wrong, never the URL: a pre-signed URL is a credential, and a client
// keeps a job's error.
func (s *Server) fetchInputs(ctx context.Context, model string, in map[string]any) string {
	fields := slices.Clone(s.fetchFields[model])
	slices.Sort(fields)
	for _, f := range fields {
		v, ok := in[f].(string)
		if !ok || v == "" {
			continue
		}
		if reason := s.fetch(ctx, v); reason != "" {
			s.mu.Lock()
			s.c.InputFetchFailures++
			s.mu.Unlock()
			s.cfg.Logger.Debug("sim input fetch failed", "field", f, "reason", reason)
			return fmt.Sprintf("generation failed: input %s could not be fetched: %s", f, reason)
		}
	}
	return ""
}

// fetch GETs one input and returns why it failed, or "". An inline input
// (a data: URI) is decoded instead: there is nothing to fetch, but a
// payload that is not base64 fails the job as it would on the API.
func (s *Server) fetch(ctx context.Context, raw string) string {
	if _, payload, ok := parseDataURI(raw); ok {
		if _, err := base64.StdEncoding.DecodeString(payload); err != nil {
			return "the data: URI is not valid base64"
		}
		return ""
	}
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
