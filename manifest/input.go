package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
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
	// with a 413 that stops every submit (issue 14 item 8: a 2 MB
	// negativePrompt). The bound of its sibling promptText is the one the
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

// Input is the model's input object, marshalled as the submit body. Unset
// optional fields are omitted so the model's defaults apply.
type Input struct {
	Image          string `json:"image"`
	PromptText     string `json:"promptText,omitempty"`
	NegativePrompt string `json:"negativePrompt,omitempty"`
	Seed           *int64 `json:"seed,omitempty"`
	Resolution     string `json:"resolution,omitempty"`
	Duration       int    `json:"duration,omitempty"`
}

// Hash returns the hex SHA-256 of the canonical JSON encoding of in.
//
// The canonical encoding is written by this package, not by encoding/json,
// so that it never changes with the Go version. It is a JSON object without
// white space whose members are the set fields in byte order of their keys:
// duration, image, negativePrompt, promptText, resolution, seed. image is
// always present (it is required); the others only when set (a non-empty
// string, a non-zero duration, a non-nil seed, even if zero). Integers are
// in base 10 with a '-' sign if negative and no '+' or leading zeros.
// Strings are escaped as in RFC 8785: '"' and '\' as \" and \\, U+0008,
// U+0009, U+000A, U+000C and U+000D as \b, \t, \n, \f and \r, other
// characters below U+0020 as \u00xx with lower-case hex, and everything else
// as is, in UTF-8. Bytes that are not valid UTF-8 (never in rows from a
// Reader) are encoded as U+FFFD. Values are hashed as given: an unset
// resolution and an explicit "1080p" hash differently, as they are
// different request bodies.
//
// For example, Input{Image: "https://x/a.png", Duration: 10} is encoded as
// {"duration":10,"image":"https://x/a.png"}.
func (in Input) Hash() string {
	sum := sha256.Sum256(in.appendCanonical(nil))
	return hex.EncodeToString(sum[:])
}

// bodyLen returns len(json.Marshal(in)), the size of the submit body,
// without building it. TestBodyLimitMatchesJSON holds it to encoding/json.
func (in Input) bodyLen() int {
	n := len(`{"image":}`) + jsonStringLen(in.Image)
	if in.PromptText != "" {
		n += len(`,"promptText":`) + jsonStringLen(in.PromptText)
	}
	if in.NegativePrompt != "" {
		n += len(`,"negativePrompt":`) + jsonStringLen(in.NegativePrompt)
	}
	var digits [24]byte
	if in.Seed != nil {
		n += len(`,"seed":`) + len(strconv.AppendInt(digits[:0], *in.Seed, 10))
	}
	if in.Resolution != "" {
		n += len(`,"resolution":`) + jsonStringLen(in.Resolution)
	}
	if in.Duration != 0 {
		n += len(`,"duration":`) + len(strconv.AppendInt(digits[:0], int64(in.Duration), 10))
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
	b = append(b, '{')
	if in.Duration != 0 {
		b = append(b, `"duration":`...)
		b = strconv.AppendInt(b, int64(in.Duration), 10)
		b = append(b, ',')
	}
	b = append(b, `"image":`...)
	b = appendCanonicalString(b, in.Image)
	if in.NegativePrompt != "" {
		b = append(b, `,"negativePrompt":`...)
		b = appendCanonicalString(b, in.NegativePrompt)
	}
	if in.PromptText != "" {
		b = append(b, `,"promptText":`...)
		b = appendCanonicalString(b, in.PromptText)
	}
	if in.Resolution != "" {
		b = append(b, `,"resolution":`...)
		b = appendCanonicalString(b, in.Resolution)
	}
	if in.Seed != nil {
		b = append(b, `,"seed":`...)
		b = strconv.AppendInt(b, *in.Seed, 10)
	}
	return append(b, '}')
}

func appendCanonicalString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
