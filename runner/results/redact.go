package results

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/pikabatch/pikabatch/manifest"
)

// urlInText finds URLs in free text, such as an error message that quotes
// the image it could not fetch.
var urlInText = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>` + "`" + `]+`)

// RedactURLsIn applies manifest.RedactURL to every URL in text.
func RedactURLsIn(text string) string {
	// RedactURL changes only a URL's user info (before an @) and its query
	// (after a ?): text with neither is left as it is without the regexp,
	// which took a fifth of an export's CPU for manifests of plain image
	// URLs.
	if !strings.Contains(text, "://") || !strings.ContainsAny(text, "@?") {
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
	// As in RedactURLsIn; an escape (\u0040) could hide an @ or a ?.
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
