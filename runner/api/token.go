package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"

	"github.com/pikabatch/pikabatch/runner/redact"
)

// redacted is what a Token prints as.
const redacted = redact.Hidden

// Token is a Model API token. It prints, logs and marshals as "[redacted]"
// whatever the verb or encoder, so a Config or a Token can be logged or
// formatted by mistake without leaking it. Convert with string(t) only where
// the real value is needed.
type Token string

// String returns "[redacted]".
func (t Token) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (t Token) GoString() string { return redacted }

// LogValue returns "[redacted]", for log/slog.
func (t Token) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON returns the JSON string "[redacted]".
func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[redacted]", for encoders that use encoding.TextMarshaler.
func (t Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Format writes "[redacted]" for every verb (quoted for %q), so no verb or
// flag of package fmt can print the value.
func (t Token) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = io.WriteString(f, strconv.Quote(redacted))
		return
	}
	_, _ = io.WriteString(f, redacted)
}

var (
	_ fmt.Stringer   = Token("")
	_ fmt.GoStringer = Token("")
	_ fmt.Formatter  = Token("")
	_ slog.LogValuer = Token("")
)

// validToken reports whether t can go in a header as a bearer token:
// printable ASCII without spaces.
func validToken(t string) bool {
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
}

// tokenForms returns the token as it may appear in a response body: as is,
// and escaped inside a JSON string.
func tokenForms(t string) []string {
	forms := []string{t}
	if b, err := json.Marshal(t); err == nil {
		if s := string(b[1 : len(b)-1]); s != t {
			forms = append(forms, s)
		}
	}
	return forms
}

// scrub removes the token from err's text. A redirect error names the
// Location the server sent, which the client does not control.
func (c *Client) scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = c.redact(ue.URL)
	}
	if msg := err.Error(); c.redact(msg) != msg {
		return &scrubbedError{msg: c.redact(msg), err: err}
	}
	return err
}

// scrubbedError is err with the token removed from its text.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }

func (e *scrubbedError) Unwrap() error { return e.err }

// redact replaces the token in s.
func (c *Client) redact(s string) string {
	return redact.Secrets(s, c.secrets)
}

// clean makes response text safe for errors and logs: no token, no control
// characters, bounded length.
func (c *Client) clean(s string, limit int) string {
	return truncate(sanitize(c.redact(s)), limit)
}
