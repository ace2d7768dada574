package inputs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// mayHoldRefs reports whether body may name a bucket object or a local
// file: the common body of https URLs only is passed on without parsing
// when it has neither.
func mayHoldRefs(body []byte) bool {
	return bytes.Contains(body, []byte("://")) || bytes.Contains(body, []byte(`"file:`))
}

// rewriteStrings returns the JSON object body with the string value of
// each member named in fields (every member when fields is nil) replaced
// by what fn returns for it, when fn says it changed. Members keep their
// order and every other value its bytes; body itself is returned when
// nothing changed.
func rewriteStrings(body []byte, fields map[string]bool, fn func(string) (string, bool, error)) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("inputs: the request body is not a JSON object")
	}
	out := make([]byte, 0, len(body))
	out = append(out, '{')
	changed := false
	for n := 0; dec.More(); n++ {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("inputs: read the request body: %w", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("inputs: read the request body: %w", err)
		}
		if (fields == nil || fields[key]) && len(raw) > 0 && raw[0] == '"' {
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("inputs: field %s: %w", key, err)
			}
			nv, ok, err := fn(v)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", key, err)
			}
			if ok {
				raw, changed = appendString(nil, nv), true
			}
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = appendString(out, key)
		out = append(out, ':')
		out = append(out, raw...)
	}
	if !changed {
		return body, nil
	}
	return append(out, '}'), nil
}

// appendString appends s as a JSON string, without escaping '&', '<' and
// '>' (a pre-signed URL's query is full of '&').
func appendString(b []byte, s string) []byte {
	if isPlainJSON(s) {
		// A data: URI or a signed URL, tens of megabytes for a video sent
		// inline: written once, not through an encoder's buffer.
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// isPlainJSON reports whether s is printable ASCII without '"' or '\\':
// the same text inside JSON quotes.
func isPlainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
