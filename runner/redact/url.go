package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// URL returns s with the parts that may be secret replaced by
// Mark: the whole userinfo (a user name alone can be a token) and the
// values of query parameters whose names look like a signature, a key, a
// token or a policy, as pre-signed URLs of S3 (X-Amz-Signature,
// X-Amz-Credential, X-Amz-Security-Token), Google Cloud Storage
// (X-Goog-Signature), Azure (sig) and CloudFront (Signature, Policy,
// Key-Pair-Id) carry them. Everything else is kept as written, so the user
// still recognises the URL. It works on the text, so it also redacts a
// string that is not a valid URL; a string without "://" is returned as is.
func URL(s string) string {
	i := strings.Index(s, "://")
	if i <= 0 || !isScheme(s[:i]) {
		return s
	}
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i+3])
	if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
		b.WriteString(Mark)
		rest = rest[at:]
		end -= at
	}
	q := strings.IndexByte(rest, '?')
	if q < 0 {
		b.WriteString(rest)
		return b.String()
	}
	b.WriteString(rest[:q+1])
	query, fragment := rest[q+1:], ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, fragment = query[:h], query[h:]
	}
	for n, param := range strings.Split(query, "&") {
		if n > 0 {
			b.WriteByte('&')
		}
		name, _, hasValue := strings.Cut(param, "=")
		if hasValue && isSecretParam(name) {
			b.WriteString(name)
			b.WriteString("=" + Mark)
		} else {
			b.WriteString(param)
		}
	}
	b.WriteString(fragment)
	return b.String()
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// isSecretParam reports whether a query parameter's value may be a secret.
// It errs on the side of hiding: a hidden harmless value costs nothing.
func isSecretParam(name string) bool {
	if u, err := url.QueryUnescape(name); err == nil {
		name = u
	}
	name = strings.ToLower(name)
	for _, w := range []string{"sig", "token", "key", "credential", "secret", "pass", "auth", "policy", "session"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// urlInText finds URLs in free text, such as an error message that quotes
// the image it could not fetch.
var urlInText = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>` + "`" + `]+`)

// URLsIn applies URL to every URL in text.
func URLsIn(text string) string {
	// URL changes only a URL's user info (before an @) and its query
	// (after a ?): text with neither is left as it is without the regexp,
	// which took a fifth of an export's CPU for manifests of plain image
	// URLs.
	if !strings.Contains(text, "://") || !strings.ContainsAny(text, "@?") {
		return text
	}
	return urlInText.ReplaceAllStringFunc(text, func(m string) string {
		// Punctuation that ends a sentence is not part of the URL.
		u := strings.TrimRight(m, ".,:;!?)]}")
		return URL(u) + m[len(u):]
	})
}

// JSONStrings applies URLsIn to every string in a JSON
// document, keeping everything else byte for byte. It returns doc itself
// when nothing needed redacting (the common case: no allocation).
func JSONStrings(doc []byte) []byte {
	// As in URLsIn; an escape (\u0040) could hide an @ or a ?.
	if !bytes.Contains(doc, []byte("://")) ||
		(!bytes.ContainsAny(doc, "@?") && !bytes.Contains(doc, []byte(`\u`))) {
		return doc
	}
	var out []byte
	last := 0
	for i := 0; i < len(doc); i++ {
		if doc[i] != '"' {
			continue
		}
		end := i + 1
		for end < len(doc) && doc[end] != '"' {
			if doc[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(doc) {
			break // not valid JSON; leave the rest as it is
		}
		lit := doc[i : end+1]
		i = end
		if !bytes.Contains(lit, []byte("://")) {
			continue
		}
		var s string
		if json.Unmarshal(lit, &s) != nil {
			continue
		}
		r := URLsIn(s)
		if r == s {
			continue
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if enc.Encode(r) != nil {
			continue
		}
		out = append(out, doc[last:end+1-len(lit)]...)
		out = append(out, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
		last = end + 1
	}
	if out == nil {
		return doc
	}
	return append(out, doc[last:]...)
}

// ResultURL keeps scheme, host and path of a result URL, never its
// user information, query or fragment: a result URL is pre-signed, and its
// whole query is the credential.
func ResultURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// URLError drops the URL from an HTTP client error (*url.Error
// prints it whole, query and user information included) and shows it as
// ResultURL does.
func URLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, ResultURL(ue.URL), ue.Err)
	}
	return err
}

// WithoutURL drops the URL from an HTTP client error altogether, for a
// URL whose path is itself the secret (a webhook's, --notify-url).
func WithoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
