package manifest

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// redacted replaces a secret in a URL shown to the user.
const redacted = "REDACTED"

// RedactURL returns s with the parts that may be secret replaced by
// REDACTED: the whole userinfo (a user name alone can be a token) and the
// values of query parameters whose names look like a signature, a key, a
// token or a policy, as pre-signed URLs of S3 (X-Amz-Signature,
// X-Amz-Credential, X-Amz-Security-Token), Google Cloud Storage
// (X-Goog-Signature), Azure (sig) and CloudFront (Signature, Policy,
// Key-Pair-Id) carry them. Everything else is kept as written, so the user
// still recognises the URL. It works on the text, so it also redacts a
// string that is not a valid URL; a string without "://" is returned as is.
func RedactURL(s string) string {
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
		b.WriteString(redacted)
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
			b.WriteString("=" + redacted)
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

// Printable returns s with every character a terminal might act on
// escaped, as printable does: for words a schema or catalog gives
// (property names, enums, model names), which are printed to a terminal.
func Printable(s string) string { return printable(s, 0) }

// printable returns s with every character a terminal might act on (C0 and
// C1 controls, DEL, bidirectional and other invisible format characters,
// invalid UTF-8) escaped as in Go's %q (\x1b, \u202e), and everything else,
// backslashes included, as is: applying it twice changes nothing. It
// shortens s to maxRunes characters, marking the cut with "…", when maxRunes
// is positive.
func printable(s string, maxRunes int) string {
	clean := true
	for _, r := range s {
		if !isPrintable(r) {
			clean = false
			break
		}
	}
	if clean && (maxRunes <= 0 || len(s) <= maxRunes || utf8.RuneCountInString(s) <= maxRunes) {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		if maxRunes > 0 && n == maxRunes {
			b.WriteString("…")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case isPrintable(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
		n++
	}
	return b.String()
}

func isPrintable(r rune) bool {
	return r == ' ' || r != utf8.RuneError && unicode.IsPrint(r)
}

// isLoopback reports whether host is localhost, in 127.0.0.0/8 or ::1: the
// hosts an http image URL may name, for rehearsals. It matches runner/api's
// rule for the API base.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}
