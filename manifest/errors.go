package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Problems a manifest can have. A RowError's Err wraps one or more of them,
// so callers and tests can use errors.Is; its message is written for the user
// and does not repeat the sentinel's text.
var (
	// ErrRequired means a required column, key or value is missing: every
	// row needs an image.
	ErrRequired = errors.New("required value missing")

	// ErrUnknownColumn means a CSV column or JSONL key is not one the
	// manifest knows. It is an error rather than ignored so that a typo such
	// as "promt" cannot silently drop the prompt.
	ErrUnknownColumn = errors.New("unknown column")

	// ErrReservedColumn means a kept column (Config.Keep) has the name of
	// one of the export's own columns (Config.Reserved): a reader of the
	// export would take its value for the job's own.
	ErrReservedColumn = errors.New("kept column shadows an export column")

	// ErrInvalidURL means the image is not an absolute https URL with a
	// host (http only for a loopback host), holds a user name or password,
	// or is longer than MaxImageURLBytes.
	ErrInvalidURL = errors.New("invalid image URL")

	// ErrLocalFile means a file field names a local file that cannot be
	// sent: no way to send local files was chosen (staging to a bucket or
	// inline), the file cannot be read, holds another kind of media than
	// the field takes, or is over a cap of files sent inline.
	ErrLocalFile = errors.New("local file cannot be sent")

	// ErrTooLong means a value is longer than allowed: a promptText or
	// negativePrompt over its bound in characters, an image URL over
	// MaxImageURLBytes, an id over MaxIDLength, a submit body over
	// MaxBodyBytes, or a row over MaxRowBytes.
	ErrTooLong = errors.New("value too long")

	// ErrInvalidEnum means a value is not one of the allowed ones
	// (resolution 720p or 1080p, duration 5 or 10).
	ErrInvalidEnum = errors.New("value not allowed")

	// ErrInvalidInteger means a seed or duration is not an integer, or does
	// not fit in 64 bits.
	ErrInvalidInteger = errors.New("invalid integer")

	// ErrInvalidType means a value is not of a type the model's schema
	// allows: a CSV cell that does not parse as its field's number or
	// boolean (or array or object, as JSON), or a JSONL value of another
	// type. Integers and strings also wrap ErrInvalidInteger and
	// ErrMalformed, as they did before schemas.
	ErrInvalidType = errors.New("value of the wrong type")

	// ErrOutOfRange means a number is outside the schema's minimum or
	// maximum, or not a multiple of its multipleOf, or a text is shorter
	// than its minLength.
	ErrOutOfRange = errors.New("value out of range")

	// ErrInvalidValue means a value breaks another rule of the model's
	// schema: a pattern, a format, or a keyword such as allOf or if/then
	// that the schema library checks.
	ErrInvalidValue = errors.New("value not valid for the model")

	// ErrDuplicateID means two rows share a key: an id given twice (ids are
	// compared case-insensitively, as file names are on macOS and Windows),
	// or an id equal to the key derived for a row without an id.
	ErrDuplicateID = errors.New("duplicate id")

	// ErrUnsafeID means an id cannot be used as a file name on every
	// platform.
	ErrUnsafeID = errors.New("unsafe id")

	// ErrBadHeader means the CSV header is unusable: a column without a
	// name, a column given twice (also through an alias), a missing image
	// column or an unknown column.
	ErrBadHeader = errors.New("bad header")

	// ErrMalformed means a row cannot be read: a CSV row with the wrong
	// number of fields or broken quoting, a JSONL line that is not valid
	// JSON or not an object, a JSON value of the wrong type, a key given
	// twice, text that is not valid UTF-8, or a row over MaxRowBytes.
	ErrMalformed = errors.New("malformed row")

	// ErrEmpty means the manifest has no rows: the file is empty, or has
	// only a header or blank lines.
	ErrEmpty = errors.New("empty manifest")

	// ErrUnknownFormat means the manifest format could not be chosen: an
	// unknown format name, or FormatAuto with a file extension other than
	// .csv, .jsonl or .ndjson.
	ErrUnknownFormat = errors.New("unknown manifest format")
)

// RowError describes one problem in the manifest.
type RowError struct {
	File  string
	Line  int    // 1-based; 0 if not line-specific (e.g. empty file)
	Field string // column or key name as spelled in the manifest (control characters escaped); "" if not field-specific
	Err   error
}

// Error returns "FILE:LINE: field FIELD: message", leaving out the parts
// that are not set.
func (e *RowError) Error() string {
	// File and Field are printed escaped: a message reaches a terminal,
	// and a field named in the manifest may hold escape sequences.
	var b strings.Builder
	b.WriteString(printable(e.File, 0))
	if e.Line > 0 {
		if e.File == "" {
			b.WriteString("line ")
		} else {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Field != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString("field ")
		b.WriteString(printable(e.Field, 0))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Err != nil {
		// The message may name a schema's properties, which a catalog or
		// a schema file gives: escaped too.
		b.WriteString(printable(e.Err.Error(), 0))
	} else {
		b.WriteString("invalid row")
	}
	return b.String()
}

// Unwrap returns the underlying problem, which wraps the sentinel errors.
func (e *RowError) Unwrap() error { return e.Err }

// MaxErrors is how many RowErrors a ValidationError keeps; the rest are
// only counted in Total.
const MaxErrors = 1000

// ValidationError aggregates the RowErrors of a manifest (from Validate or
// Open), or of one row that has several problems (from Reader.Next).
type ValidationError struct {
	File   string
	Errors []*RowError // at most MaxErrors, in file order
	Total  int         // total number of errors, >= len(Errors)
}

// Error returns a summary line followed by one line per kept error.
func (e *ValidationError) Error() string {
	var b strings.Builder
	total := max(e.Total, len(e.Errors))
	if e.File != "" {
		b.WriteString(printable(e.File, 0))
		b.WriteString(": ")
	}
	b.WriteString("invalid manifest: ")
	b.WriteString(plural(total, "error"))
	for _, re := range e.Errors {
		b.WriteByte('\n')
		b.WriteString(re.Error())
	}
	if more := total - len(e.Errors); more > 0 {
		noun := "errors"
		if more == 1 {
			noun = "error"
		}
		fmt.Fprintf(&b, "\n... and %d more %s", more, noun)
	}
	return b.String()
}

// Unwrap returns the kept RowErrors, so that errors.Is finds their
// sentinels and errors.As with a *RowError finds the first of them.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, re := range e.Errors {
		errs[i] = re
	}
	return errs
}

// add records re, keeping at most MaxErrors of them.
func (e *ValidationError) add(re *RowError) {
	e.Total++
	if len(e.Errors) < MaxErrors {
		e.Errors = append(e.Errors, re)
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// problem is the Err of a RowError: a message for the user that wraps the
// sentinels the problem is an instance of, without repeating their text.
type problem struct {
	msg   string
	kinds []error
}

func (p *problem) Error() string   { return p.msg }
func (p *problem) Unwrap() []error { return p.kinds }

func problemf(kind error, format string, args ...any) *problem {
	return &problem{msg: fmt.Sprintf(format, args...), kinds: []error{kind}}
}

// also adds a sentinel the problem is an instance of.
func (p *problem) also(kind error) *problem {
	p.kinds = append(p.kinds, kind)
	return p
}
