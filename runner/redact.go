package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/pikabatch/pikabatch/manifest"
)

// What of a URL may be shown in logs, errors, the results index and
// exports. An image URL may carry a password (https://user:pass@host/…) or
// a signature in its query: manifest.RedactURL, the one redactor, hides
// those and keeps the rest. A result URL is pre-signed, its whole query a
// credential: redactResultURL drops it. Only the submit body that goes to
// the API keeps the raw value.

// redactResultURL keeps scheme, host and path of a result URL, never its
// user information, query or fragment: a result URL is pre-signed, and its
// whole query is the credential.
func redactResultURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// RedactURLError drops the URL from an HTTP client error (*url.Error
// prints it whole, query and user information included) and shows it as
// redactResultURL does.
func RedactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, redactResultURL(ue.URL), ue.Err)
	}
	return err
}

// urlInText finds URLs in free text, such as an error message that quotes
// the image it could not fetch.
var urlInText = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>` + "`" + `]+`)

// RedactURLsIn applies manifest.RedactURL to every URL in text.
func RedactURLsIn(text string) string {
	if !strings.Contains(text, "://") {
		return text
	}
	return urlInText.ReplaceAllStringFunc(text, func(m string) string {
		// Punctuation that ends a sentence is not part of the URL.
		u := strings.TrimRight(m, ".,:;!?)]}")
		return manifest.RedactURL(u) + m[len(u):]
	})
}

// redactJSONStrings applies RedactURLsIn to every string in a JSON
// document, keeping everything else byte for byte. It returns doc itself
// when nothing needed redacting (the common case: no allocation).
func redactJSONStrings(doc []byte) []byte {
	if !bytes.Contains(doc, []byte("://")) {
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
		r := RedactURLsIn(s)
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

// StripURLError drops the URL from an HTTP client error altogether, for a
// URL whose path is itself the secret (a webhook's, --notify-url).
func StripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
