package api

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
)

const redacted = "[redacted]"

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
