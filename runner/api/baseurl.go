package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
)

// parseBase checks a base URL; see Config.BaseURL.
func parseBase(raw string) (*url.URL, error) {
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the raw URL, which might hold credentials
		}
		return nil, fmt.Errorf("base URL: %w", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("base URL %s: scheme must be https", u.Redacted())
	case u.Opaque != "" || u.Hostname() == "":
		return nil, fmt.Errorf("base URL %s: no host", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("base URL %s: must not hold credentials; set the token instead", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("base URL %s: must not have a query or fragment", u.Redacted())
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("base URL %s: %w", u.Redacted(), ErrInsecureBase)
	}
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

// basePath is the base URL's path prefix without trailing slashes and
// without a trailing "/v1", which the client adds to every path itself.
func basePath(base *url.URL) string {
	p := strings.TrimRight(base.EscapedPath(), "/")
	if strings.EqualFold(path.Base(p), strings.TrimPrefix(apiVersionPath, "/")) {
		p = strings.TrimRight(p[:len(p)-len(apiVersionPath)], "/")
	}
	return p
}

// isLoopback reports whether host is localhost, in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// checkRedirect refuses redirects that would take the token to another
// origin or turn a POST into a GET, runs next for the others, and waits on
// the limiter before the redirected request goes out.
func (c *Client) checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(req.URL, c.base) && !sameOrigin(req.URL, c.balance) {
			return fmt.Errorf("%w: to %s", ErrRedirect, originOf(req.URL))
		}
		if len(via) > 0 && via[0].Method != req.Method {
			return fmt.Errorf("%w: %s would become %s", ErrRedirect, via[0].Method, req.Method)
		}
		if next != nil {
			if err := next(req, via); err != nil {
				if errors.Is(err, http.ErrUseLastResponse) {
					return err
				}
				return fmt.Errorf("%w: %w", ErrRedirect, err)
			}
		} else if len(via) >= maxRedirects {
			return fmt.Errorf("%w: stopped after %d redirects", ErrRedirect, maxRedirects)
		}
		if c.limiter != nil {
			if err := c.limiter.Wait(req.Context()); err != nil {
				return fmt.Errorf("%w: rate limiter: %w", ErrRedirect, err)
			}
		}
		return nil
	}
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(strings.TrimSuffix(a.Hostname(), "."), strings.TrimSuffix(b.Hostname(), ".")) &&
		portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

func originOf(u *url.URL) string { return u.Scheme + "://" + u.Host }

// modelPath escapes each segment of a model ID, keeping the slashes.
func modelPath(model string) (string, error) {
	segs := strings.Split(model, "/")
	for i, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("%w: model %q", ErrInvalidID, model)
		}
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/"), nil
}

// requestURL builds /v1/requests/{id}/{action} on the base URL.
func (c *Client) requestURL(op, id, action string) (string, error) {
	if id == "" || id == "." || id == ".." {
		return "", fmt.Errorf("%s: %w: request ID %q", op, ErrInvalidID, id)
	}
	return c.prefix + "/v1/requests/" + url.PathEscape(id) + "/" + action, nil
}
