package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Model defaults and limits, from the input schema of
// pika/pika-2-2/image-to-video.
const (
	// DefaultResolution is what the model uses when resolution is unset.
	DefaultResolution = "1080p"
	// DefaultDuration is what the model uses, in seconds, when duration is
	// unset.
	DefaultDuration = 5
	// MaxPromptRunes is the longest promptText, in characters (runes), as
	// the model's documentation says.
	MaxPromptRunes = 2000
	// MaxNegativePromptRunes is the longest negativePrompt, in characters.
	// The documentation gives no bound, but the API refuses a large body
	// with a 413 that stops every submit (a 2 MB negativePrompt draws
	// one). The bound of its sibling promptText is the one the
	// model documents for text; a list of things to avoid needs no more.
	MaxNegativePromptRunes = 2000
	// MaxImageURLBytes is the longest image URL. The API fetches the image
	// with a GET, and common servers refuse a longer request line (Apache
	// allows 8190 bytes, nginx 8 KiB by default); pre-signed URLs with a
	// session token stay well under it.
	MaxImageURLBytes = 8000
	// MaxBodyBytes bounds the submit body, the Input as JSON (what
	// json.Marshal writes, escapes included). Rows within the field bounds
	// reach it only through heavy escaping ('&' is 6 bytes, \u0026); it
	// keeps every body far below any gateway's limit (nginx: 1 MB).
	MaxBodyBytes = 64 << 10
	// MaxIDLength is the longest id, in characters.
	MaxIDLength = 128
	// MaxRowBytes bounds one row: a JSONL line or a CSV record. No valid
	// row comes near it (the fields above, even escaped, add up to about
	// 80 KB), so a longer one is one error, read through without being
	// held: a file without line ends, an unterminated CSV quote or a
	// multi-megabyte prompt costs at most this much memory.
	MaxRowBytes = 256 << 10
)

// Input is the model's input object: the submit body. It holds the set
// fields of a row, in the order of the schema's properties (the body's
// order); unset optional fields are left out so the model's defaults apply.
// Lookup gives values as string, int64, float64, bool, []any or
// map[string]any (whose numbers are int64 or float64 in turn). The zero
// Input is the empty object.
type Input struct {
	fields []field
}

// field is one field of an Input, its value held without an interface so
// that a row's fields take one allocation.
type field struct {
	name string
	v    value
}

// value is a string, an integer, a float64 (its bits in n), a boolean (n is
// 0 or 1), or an array or object held as its canonical JSON in s.
type value struct {
	s string
	n int64
	k vkind
}

type vkind uint8

const (
	vString vkind = iota
	vInt
	vFloat
	vBool
	vJSON
)

func stringValue(s string) value { return value{s: s, k: vString} }
func intValue(n int64) value     { return value{n: n, k: vInt} }

func boolValue(b bool) value {
	if b {
		return value{n: 1, k: vBool}
	}
	return value{k: vBool}
}

// floatValue holds f, as an integer when it is a whole number an int64
// holds exactly (5.0 is 5).
func floatValue(f float64) value {
	if n, ok := integral(f); ok {
		return intValue(n)
	}
	return value{n: int64(math.Float64bits(f)), k: vFloat}
}

// toValue converts a value decoded from JSON (with UseNumber) or given to
// NewInput; ok is false for nil, which is "not set".
func toValue(v any) (value, bool) {
	switch v := normalize(v).(type) {
	case nil:
		return value{}, false
	case string:
		return stringValue(v), true
	case int64:
		return intValue(v), true
	case float64:
		return floatValue(v), true
	case bool:
		return boolValue(v), true
	case []any, map[string]any:
		return value{s: string(appendCanonicalValue(nil, v)), k: vJSON}, true
	default:
		// Another Go type: through JSON, as the body would carry it.
		b, err := json.Marshal(v)
		if err != nil {
			return value{}, false
		}
		x, err := decodeJSON(b)
		if err != nil {
			return value{}, false
		}
		return toValue(x)
	}
}

// any returns the value as Lookup gives it.
func (v value) any() any {
	switch v.k {
	case vString:
		return v.s
	case vInt:
		return v.n
	case vFloat:
		return math.Float64frombits(uint64(v.n))
	case vBool:
		return v.n != 0
	}
	x, _ := decodeJSON([]byte(v.s))
	return x
}

// appendCanonical appends the value's canonical encoding (see Input.Hash).
func (v value) appendCanonical(b []byte) []byte {
	switch v.k {
	case vString:
		return appendCanonicalString(b, v.s)
	case vInt:
		return strconv.AppendInt(b, v.n, 10)
	case vFloat:
		return appendES6Number(b, math.Float64frombits(uint64(v.n)))
	case vBool:
		return strconv.AppendBool(b, v.n != 0)
	}
	return append(b, v.s...)
}

// text is the value as a CSV cell holds it: a string as is, the rest in
// canonical form.
func (v value) text() string {
	if v.k == vString {
		return v.s
	}
	return string(v.appendCanonical(nil))
}

// Field is one field of an Input.
type Field struct {
	Name  string
	Value any
}

// NewInput returns an Input with the given fields, in that order. Values of
// other numeric types are converted (int to int64, json.Number to int64 or
// float64); a nil value is left out. A name given twice keeps its last
// value.
func NewInput(fields ...Field) Input {
	var in Input
	for _, f := range fields {
		if v, ok := toValue(f.Value); ok {
			in = in.with(f.Name, v)
		}
	}
	return in
}

// with returns in with name set to v, in place if it is set already.
func (in Input) with(name string, v value) Input {
	for i := range in.fields {
		if in.fields[i].name == name {
			in.fields[i].v = v
			return in
		}
	}
	in.fields = append(in.fields, field{name: name, v: v})
	return in
}

// lookup returns a field's value without boxing it.
func (in Input) lookup(name string) (value, bool) {
	for _, f := range in.fields {
		if f.name == name {
			return f.v, true
		}
	}
	return value{}, false
}

// Lookup returns the value of a field and whether it is set.
func (in Input) Lookup(name string) (any, bool) {
	v, ok := in.lookup(name)
	if !ok {
		return nil, false
	}
	return v.any(), true
}

// Text returns a field's value as a CSV cell would hold it: a string as
// is, a number in base 10 (or the shortest form that reads back the same),
// a boolean as true or false, an array or object as JSON; "" if unset.
func (in Input) Text(name string) string {
	v, ok := in.lookup(name)
	if !ok {
		return ""
	}
	return v.text()
}

// EachText calls fn with each set field's name and its value as Text
// gives it, in body order: one pass for a caller that wants every field,
// where Text for each would be quadratic in a wide schema.
func (in Input) EachText(fn func(name, text string)) {
	for _, f := range in.fields {
		fn(f.name, f.v.text())
	}
}

// Fields returns the set fields in body order.
func (in Input) Fields() []Field {
	fs := make([]Field, len(in.fields))
	for i, f := range in.fields {
		fs[i] = Field{Name: f.name, Value: f.v.any()}
	}
	return fs
}

// Len returns the number of set fields.
func (in Input) Len() int { return len(in.fields) }

// MarshalJSON returns the submit body: the fields in order, strings
// encoded as encoding/json encodes them (HTML-escaped), numbers as in the
// canonical encoding, arrays and objects in their canonical JSON.
func (in Input) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, f := range in.fields {
		if i > 0 {
			b = append(b, ',')
		}
		name, err := json.Marshal(f.name)
		if err != nil {
			return nil, err
		}
		b = append(b, name...)
		b = append(b, ':')
		if f.v.k == vString {
			s, err := json.Marshal(f.v.s)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
			b = append(b, s...)
		} else {
			b = f.v.appendCanonical(b)
		}
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads a submit body back (runner/live rebuilds jobs from
// recorded bodies): members in order, numbers as int64 when written as
// integers that fit and float64 otherwise, null members left out. It hashes
// as the row the body was made from.
func (in *Input) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return errors.New("manifest: an input must be a JSON object")
	}
	var out Input
	var err error
	at := map[string]int{} // field → index in out: a wide body is read in linear time
	objectMembers(b, func(key, v []byte) {
		if err != nil || string(v) == "null" {
			return
		}
		var name string
		if e := json.Unmarshal(key, &name); e != nil {
			err = e
			return
		}
		var x any
		if x, err = decodeJSON(v); err == nil {
			if val, ok := toValue(x); ok {
				if i, seen := at[name]; seen {
					out.fields[i].v = val
				} else {
					at[name] = len(out.fields)
					out.fields = append(out.fields, field{name: name, v: val})
				}
			}
		}
	})
	if err != nil {
		return fmt.Errorf("manifest: read input: %w", err)
	}
	*in = out
	return nil
}

// Hash returns the hex SHA-256 of the canonical JSON encoding of in.
//
// The canonical encoding is written by this package, not by encoding/json,
// so that it never changes with the Go version. It is a JSON object without
// white space whose members are the set fields in byte order of their keys
// (for pika/pika-2-2/image-to-video: duration, image, negativePrompt,
// promptText, resolution, seed). Integers are in base 10 with a '-' sign if
// negative and no '+' or leading zeros. Other numbers (float64) are written
// as RFC 8785 (JCS) and ECMAScript's Number.prototype.toString write them:
// the shortest digits that read back the same value, in plain notation
// from 1e-6 up to 1e21 (0.5, 1.25, 100000) and as d.ddde±x outside it
// (1e+21, 1.5e-7); a float64 that is a whole number (5.0) is the integer 5.
// Strings are escaped as in RFC 8785: '"' and '\' as \" and \\, U+0008,
// U+0009, U+000A, U+000C and U+000D as \b, \t, \n, \f and \r, other
// characters below U+0020 as \u00xx with lower-case hex, and everything
// else as is, in UTF-8. Bytes that are not valid UTF-8 (never in rows from
// a Reader) are encoded as U+FFFD. true, false and null as such; arrays in
// order; objects with their keys in byte order, as the root. Values are
// hashed as given: an unset resolution and an explicit "1080p" hash
// differently, as they are different request bodies.
//
// For example, an Input of image "https://x/a.png" and duration 10 is
// encoded as {"duration":10,"image":"https://x/a.png"}. TestGoldenPikaKeys
// holds Pika rows to the hashes of the version before schemas.
func (in Input) Hash() string {
	sum := sha256.Sum256(in.appendCanonical(nil))
	return hex.EncodeToString(sum[:])
}

// bodyLen returns len(json.Marshal(in)), the size of the submit body,
// without building it for strings and integers. TestBodyLimitMatchesJSON
// holds it to encoding/json.
func (in Input) bodyLen() int {
	n := 2 // {}
	var digits [24]byte
	for i, f := range in.fields {
		if i > 0 {
			n++
		}
		n += jsonStringLen(f.name) + 1
		switch f.v.k {
		case vString:
			n += jsonStringLen(f.v.s)
		case vInt:
			n += len(strconv.AppendInt(digits[:0], f.v.n, 10))
		case vJSON:
			n += len(f.v.s)
		default:
			n += len(f.v.appendCanonical(digits[:0]))
		}
	}
	return n
}

// jsonStringLen is the length of s as encoding/json writes it, quotes
// included: HTML-escaped (<, > and & as \u003c...), control characters as
// \n or \u00xx, U+2028 and U+2029 as \u2028, invalid UTF-8 as \ufffd.
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}

// appendCanonical appends the canonical encoding documented on Hash.
func (in Input) appendCanonical(b []byte) []byte {
	// Fields are few (a handful per model): order them by an insertion
	// sort of their indexes, on the stack for up to 16 of them; a wide
	// schema's many fields by a sort, so that a row costs n log n.
	var buf [16]int
	order := buf[:0]
	for i := range in.fields {
		order = append(order, i)
		for j := len(order) - 1; j > 0 && len(order) <= len(buf) && in.fields[order[j]].name < in.fields[order[j-1]].name; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	if len(order) > len(buf) {
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(in.fields[a].name, in.fields[b].name) })
	}
	b = append(b, '{')
	for k, i := range order {
		if k > 0 {
			b = append(b, ',')
		}
		b = appendCanonicalString(b, in.fields[i].name)
		b = append(b, ':')
		b = in.fields[i].v.appendCanonical(b)
	}
	return append(b, '}')
}

// appendCanonicalValue appends v's canonical encoding (see Input.Hash).
func appendCanonicalValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendCanonicalString(b, v)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		if n, ok := integral(v); ok {
			return strconv.AppendInt(b, n, 10)
		}
		return appendES6Number(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case nil:
		return append(b, "null"...)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonicalValue(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonicalString(b, k)
			b = append(b, ':')
			b = appendCanonicalValue(b, v[k])
		}
		return append(b, '}')
	}
	// Not a value a Reader or UnmarshalJSON makes; NewInput normalises.
	return appendCanonicalValue(b, normalize(v))
}

// appendES6Number appends f as ECMAScript's Number.prototype.toString
// (and so RFC 8785) writes it: the shortest round-trip digits, plain from
// 1e-6 to 1e21, else with an exponent "e+21" / "e-7" (no leading zeros).
func appendES6Number(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...) // not JSON; never in an Input
	}
	if f == 0 {
		return append(b, '0') // also -0
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'e', -1, 64) // 1.5e-07
	e := bytes.IndexByte(b[start:], 'e') + start
	sign := b[e+1]
	digits := bytes.TrimLeft(b[e+2:], "0")
	b = append(b[:e+2], digits...)
	b[e+1] = sign
	return b
}

// valueText writes v as a CSV cell or a message shows it: strings as is,
// numbers as in the canonical encoding, arrays and objects as canonical
// JSON.
func valueText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return string(appendCanonicalValue(nil, v))
}

func appendCanonicalString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for len(s) > 0 {
		// Copy the run of bytes that need no escaping at once.
		i := 0
		for i < len(s) {
			c := s[i]
			if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
				break
			}
			i++
		}
		b = append(b, s[:i]...)
		if s = s[i:]; len(s) == 0 {
			break
		}
		c := s[0]
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\t':
				b = append(b, '\\', 't')
			case '\n':
				b = append(b, '\\', 'n')
			case '\f':
				b = append(b, '\\', 'f')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			s = s[1:]
			continue
		}
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[:size]...)
		}
		s = s[size:]
	}
	return append(b, '"')
}
