package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// jsonlSource parses one JSON object per line. It reads lines with a
// bufio.Reader rather than a bufio.Scanner, whose 64 KiB default limit a
// long prompt could exceed, and bounds them by maxRow instead.
type jsonlSource struct {
	br     *bufio.Reader
	schema *Schema
	cmap   *columns
	line   int
	buf    []byte
	maxRow int
	// mappedSeen holds the mapped keys (Config.Map) met on any line, and
	// others up to maxOtherKeys keys that are no field, to suggest one for
	// a mapped key no line has.
	mappedSeen map[string]bool
	others     []string
}

// maxOtherKeys bounds jsonlSource.others: a did-you-mean needs the few
// names a dataset repeats, not every key of a hostile file.
const maxOtherKeys = 256

// finish reports each mapped key that no line has: keys vary by line, so
// only the whole file tells a typo from a field some rows leave unset.
func (s *jsonlSource) finish() []*RowError {
	return s.cmap.missingSources("no line of the manifest has the key", func(col string) bool { return s.mappedSeen[col] }, s.others)
}

func newJSONLSource(br *bufio.Reader, name string, cmap *columns, maxRow int) (*jsonlSource, []*RowError, error) {
	if _, err := br.Peek(1); err == io.EOF {
		return nil, []*RowError{{File: name, Err: problemf(ErrEmpty, "the file is empty")}}, nil
	} else if err != nil {
		return nil, nil, err
	}
	return &jsonlSource{br: br, schema: cmap.schema, cmap: cmap, maxRow: maxRow}, nil, nil
}

func (s *jsonlSource) read(raw *rawRow) error {
	for {
		b, n, err := s.readLine()
		if err != nil {
			return err
		}
		s.line++
		raw.line = s.line
		if n > s.maxRow {
			raw.errs = append(raw.errs, &RowError{Line: s.line,
				Err: problemf(ErrMalformed, "the line is %d bytes long; no valid row is longer than %d bytes (%s)", n, s.maxRow, s.schema.rowBounds()).also(ErrTooLong)})
			raw.skip = true
			return nil
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		s.parse(b, raw)
		return nil
	}
}

// readLine returns the next line, which is valid until the next call, and
// its length without the line end. A line longer than maxRow is read
// through but not kept: line is then empty and n tells its length. It
// returns io.EOF only when there is no more input.
func (s *jsonlSource) readLine() (line []byte, n int, err error) {
	s.buf = s.buf[:0]
	tooLong := false
	var last byte // the last byte of the previous chunk
	for first := true; ; first = false {
		chunk, err := s.br.ReadSlice('\n')
		n += len(chunk)
		if err == nil { // the chunk ends the line: leave out "\n" or "\r\n"
			n--
			if len(chunk) >= 2 && chunk[len(chunk)-2] == '\r' || len(chunk) == 1 && last == '\r' {
				n--
			}
			if first {
				return chunk, n, nil // the common case: no copy
			}
		}
		if len(chunk) > 0 {
			last = chunk[len(chunk)-1]
		}
		if !tooLong {
			limit := s.maxRow
			if err != nil {
				limit++ // a '\r' at the end may be part of the line end
			}
			if n > limit { // read reports it; keep nothing
				tooLong = true
				s.buf = s.buf[:0]
			} else {
				s.buf = append(s.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			return s.buf, n, nil
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && n > 0:
			return s.buf, n, nil
		default:
			return nil, 0, err
		}
	}
}

// parse decodes one non-blank line into raw. The line is checked with
// json.Valid and then its members are walked by hand, rather than decoded
// into a map, so that a key given twice is seen; json.Decoder, which could
// do both, allocates several times more.
func (s *jsonlSource) parse(b []byte, raw *rawRow) {
	malformed := func(format string, args ...any) {
		raw.errs = append(raw.errs, &RowError{Line: raw.line, Err: problemf(ErrMalformed, format, args...)})
		raw.skip = true
	}
	if !utf8.Valid(b) {
		malformed("the line is not valid UTF-8 text; save the file as UTF-8")
		return
	}
	if b[0] != '{' {
		malformed("the line is not a JSON object; each line must be one {...} object")
		return
	}
	if !json.Valid(b) {
		malformed("%s", jsonProblem(b))
		return
	}
	objectMembers(b, func(key, v []byte) {
		name := string(key[1 : len(key)-1])
		if bytes.IndexByte(key, '\\') >= 0 {
			_ = json.Unmarshal(key, &name) // cannot fail: b is valid JSON
		}
		s.setValue(raw, name, v)
	})
}

// objectMembers calls fn with the key (quoted) and value of each member of
// the JSON object b, which must be valid JSON.
func objectMembers(b []byte, fn func(key, val []byte)) {
	i := skipSpace(b, 1)
	if b[i] == '}' {
		return
	}
	for {
		end := stringEnd(b, i)
		key := b[i:end]
		i = skipSpace(b, skipSpace(b, end)+1) // past ':'
		end = valueEnd(b, i)
		fn(key, b[i:end])
		i = skipSpace(b, end)
		if b[i] == '}' {
			return
		}
		i = skipSpace(b, i+1) // past ','
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string that starts at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; ; j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// valueEnd returns the index after the value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	}
	j := i // number, true, false or null
	for j < len(b) && !isValueEnd(b[j]) {
		j++
	}
	return j
}

func isValueEnd(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

func (s *jsonlSource) setValue(raw *rawRow, key string, v []byte) {
	name := strings.TrimSpace(key)
	fail := func(f string, p *problem) {
		raw.errs = append(raw.errs, &RowError{Line: raw.line, Field: f, Err: p})
	}
	slot, ok := s.cmap.lookup(name)
	s.note(name, slot, ok)
	if !ok {
		fail(fieldName(name), s.cmap.unknown("key", name))
		return
	}
	if slot == slotKept {
		if p := s.cmap.keptProblem(name); p != nil {
			fail(fieldName(name), p)
			return
		}
		if slices.Contains(raw.keptNames, name) {
			fail(name, problemf(ErrMalformed, "key %q appears twice", name))
			return
		}
		raw.keptNames = append(raw.keptNames, name)
		appendKept(raw, key, v)
		return
	}
	val := &raw.vals[slot]
	if prev := val.name; prev != "" {
		val.bad = true
		if prev == name {
			fail(name, problemf(ErrMalformed, "key %q appears twice", name))
		} else {
			fail(name, problemf(ErrMalformed, "key %q repeats key %q", name, prev))
		}
		return
	}
	val.name = name
	switch v[0] {
	case 'n': // null: not set
		val.kind = kindNull
	case '"':
		val.kind = kindString
		if bytes.IndexByte(v, '\\') < 0 {
			val.text = string(v[1 : len(v)-1])
		} else if err := json.Unmarshal(v, &val.text); err != nil {
			val.bad = true // not reached: the decoder checked v
			fail(name, problemf(ErrMalformed, "must be a string, not an invalid string"))
		}
	case 't', 'f':
		val.kind, val.text = kindBool, string(v)
	case '{':
		val.kind, val.text = kindObject, string(v)
	case '[':
		val.kind, val.text = kindArray, string(v)
	default: // a number, kept as written: 1.5 and 1e3 are then not integers
		val.kind, val.text = kindNumber, string(v)
	}
	if slot == slotID {
		switch val.kind {
		case kindNumber:
			val.kind = kindString // an id may be a number
		case kindString, kindNull:
		default:
			val.bad = true
			fail(name, problemf(ErrMalformed, "must be a string, not %s", kindName(val.kind)))
		}
	}
}

// note records a key for finish: a mapped one as seen, another that is no
// field as a name to suggest.
func (s *jsonlSource) note(name string, slot int, ok bool) {
	if _, mapped := s.cmap.mapped[name]; mapped {
		if !s.mappedSeen[name] {
			if s.mappedSeen == nil {
				s.mappedSeen = map[string]bool{}
			}
			s.mappedSeen[name] = true
		}
		return
	}
	if len(s.cmap.mapped) > 0 && (!ok || slot == slotKept) && len(s.others) < maxOtherKeys && !slices.Contains(s.others, name) {
		s.others = append(s.others, name)
	}
}

func kindName(k valueKind) string {
	switch k {
	case kindBool:
		return "a boolean"
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	case kindNumber:
		return "a number"
	}
	return "a string"
}

// jsonProblem describes why b, which starts with '{', is not valid JSON.
func jsonProblem(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	var v json.RawMessage
	err := dec.Decode(&v)
	var se *json.SyntaxError
	switch {
	case err == nil:
		return "unexpected text after the JSON object; put one object on each line"
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: the object is not closed"
	}
	return "invalid JSON: " + err.Error()
}
