package manifest

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pikabatch/pikabatch/runner/redact"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// A row's values sit in slots: slotID for the id column, and slotID+1+i
// for the schema's property i.
const slotID = 0

// slotRow stands for the row as a whole, in errors that no one field causes
// (the request body's size).
const slotRow = -1

// lookupColumn maps a column or key name (already trimmed) to its slot.
// Names are case-sensitive; each property has its name and the aliases
// its schema gives.
func (s *Schema) lookupColumn(name string) (int, bool) {
	if name == "id" {
		return slotID, true
	}
	i, ok := s.index[name]
	return i + 1, ok
}

// slotName is a slot's canonical name.
func (s *Schema) slotName(slot int) string {
	if slot == slotID {
		return "id"
	}
	return s.props[slot-1].name
}

// valueKind says what a raw value is: a CSV cell or a JSON value's kind.
type valueKind uint8

const (
	kindCell   valueKind = iota // CSV text, coerced by the property's type
	kindString                  // a JSON string (decoded)
	kindNumber                  // a JSON number, as written
	kindBool                    // true or false, as written
	kindNull                    // null: not set
	kindArray                   // a JSON array, as written
	kindObject                  // a JSON object, as written
)

// rawValue is one value of a row as its source read it.
type rawValue struct {
	name string // the column or key as spelled in the manifest; "" if absent
	text string
	kind valueKind
	bad  bool // the source already reported a problem with it
}

// rawRow is a row as a source parsed it.
type rawRow struct {
	line int
	vals []rawValue  // by slot
	errs []*RowError // problems the source found
	skip bool        // the row could not be parsed: report errs only
	last bool        // the source cannot go on after this row
	kept []byte      // the kept columns as a JSON object, without its closing brace; nil if none
	// keptNames are the kept keys of a JSONL line, to find one given twice.
	keptNames []string
}

// reset clears raw for the next row of a schema with n slots. errs is not
// reused: callers may keep the errors of earlier rows.
func (raw *rawRow) reset(n int) {
	vals := raw.vals
	if cap(vals) < n {
		vals = make([]rawValue, n)
	}
	vals = vals[:n]
	clear(vals)
	*raw = rawRow{vals: vals, keptNames: raw.keptNames[:0]}
}

// name returns the slot's name for error messages, as spelled in the
// manifest; "" for slotRow.
func (raw *rawRow) name(s *Schema, slot int) string {
	if slot == slotRow {
		return ""
	}
	if n := raw.vals[slot].name; n != "" {
		return n
	}
	return s.slotName(slot)
}

// checker turns raw rows into Inputs, checking them against a schema and
// the bounds every model shares. It keeps scratch space between rows.
type checker struct {
	schema *Schema
	files  *LocalFiles // how local files are sent; nil refuses them
	dir    string      // the folder relative paths are read from
	// inlineBytes is what the current row's files add to its request
	// when sent inline.
	inlineBytes int64
	buf         []byte
	doc         map[string]any // the row for the library's check (Schema.full)
	res         *property      // the model's resolution, for the Summary; nil if none
	dur         *property      // the model's duration, likewise
}

func newChecker(s *Schema) checker {
	c := checker{schema: s}
	for _, p := range s.props {
		switch p.name {
		case "resolution":
			c.res = p
		case "duration":
			c.dur = p
		}
	}
	return c
}

// parseInput checks the row's values and returns the model input and the
// trimmed id. Problems are passed to addErr.
func (c *checker) parseInput(raw *rawRow, addErr func(slot int, err error)) (Input, string) {
	s := c.schema
	var in Input
	problems := 0
	add := addErr
	addErr = func(slot int, err error) {
		problems++
		add(slot, err)
	}

	id := ""
	if v := raw.vals[slotID]; !v.bad && v.kind != kindNull {
		id = strings.TrimSpace(v.text)
	}
	if id != "" {
		if err := checkID(id); err != nil {
			addErr(slotID, err)
			id = ""
		}
	}

	c.inlineBytes = 0
	in.fields = make([]field, 0, len(s.props)) // one allocation per row
	anyBad := false
	for i, p := range s.props {
		slot := i + 1
		v := &raw.vals[slot]
		if v.bad {
			anyBad = true
			continue
		}
		val, set, err := c.coerce(p, v)
		if err == nil && set && p.file && val.k == vString {
			val, err = c.fileValue(p, val.s)
		}
		switch {
		case err != nil:
			addErr(slot, err)
			continue
		case !set && p.required:
			addErr(slot, requiredProblem(p, v.name != ""))
			continue
		case !set:
			continue
		}
		if err := c.check(p, v, val); err != nil {
			addErr(slot, err)
		}
		in.fields = append(in.fields, field{name: p.name, v: val})
	}
	if problems == 0 && !anyBad && s.full {
		c.checkLibrary(raw, in, addErr)
	}
	if problems == 0 && !anyBad {
		c.checkBody(in, addErr)
	}
	return in, id
}

// checkBody checks the size of a row's request. Each field may be within
// its bound and the body still too large, through escaping: the API would
// answer 413, which stops every submit.
func (c *checker) checkBody(in Input, addErr func(slot int, err error)) {
	if n := in.bodyLen(); n > MaxBodyBytes {
		addErr(slotRow, problemf(ErrTooLong, "the request body would be %d bytes of JSON; the limit is %d (%s)", n, MaxBodyBytes, c.schema.shortenHint()))
	}
	if err := c.inlineRequestCheck(in); err != nil {
		addErr(slotRow, err)
	}
}

// fieldOrDefault returns a field of in, or the schema's default for it;
// false if the model has no such field (p is nil) or it is unset without a
// default.
func fieldOrDefault(in Input, p *property) (value, bool) {
	if p == nil {
		return value{}, false
	}
	if v, ok := in.lookup(p.name); ok {
		return v, true
	}
	return p.defv, p.def != nil
}

// requiredProblem says a required field is missing or blank.
func requiredProblem(p *property, present bool) *problem {
	why := "the model requires it"
	if p.name == "image" {
		why = "every row needs the URL of its source image"
	}
	if present {
		return problemf(ErrRequired, "is empty; %s", why)
	}
	return problemf(ErrRequired, "missing; %s", why)
}

// coerce turns a raw value into a value of Input by the property's types:
// a CSV cell (or a JSON string for a field that is no string, as "5" for
// an integer) is parsed as the type asks; other JSON values are taken as
// they are and must be of an allowed type. set is false for a blank or
// null value: not set, so the model's default applies.
func (c *checker) coerce(p *property, v *rawValue) (val value, set bool, err error) {
	t := p.types
	switch v.kind {
	case kindNull:
		return val, false, nil
	case kindCell, kindString:
		text := strings.TrimSpace(v.text)
		if text == "" {
			return val, false, nil
		}
		if t.has(tString) && (v.kind == kindString || !t.has(tInteger|tNumber|tBoolean|tArray|tObject)) {
			return stringValue(text), true, nil
		}
		return coerceText(p, text)
	case kindNumber:
		switch {
		case t.has(tNumber):
			val, err := parseNumber(v.text)
			return val, err == nil, err
		case t.has(tInteger):
			n, err := parseInteger(v.text)
			return intValue(n), err == nil, err
		}
		return val, false, wrongType(p, "a number")
	case kindBool:
		if t.has(tBoolean) {
			return boolValue(v.text == "true"), true, nil
		}
		return val, false, wrongType(p, "a boolean")
	case kindArray, kindObject:
		what := "an array"
		want := tArray
		if v.kind == kindObject {
			what, want = "an object", tObject
		}
		if !t.has(want) {
			return val, false, wrongType(p, what)
		}
		return jsonValue(v.text)
	}
	return val, false, nil
}

// jsonValue holds an array or object given as JSON text.
func jsonValue(text string) (value, bool, error) {
	x, err := decodeJSON([]byte(text))
	if err != nil {
		return value{}, false, problemf(ErrMalformed, "invalid JSON: %v", err)
	}
	v, ok := toValue(x)
	return v, ok, nil
}

// coerceText parses a CSV cell for a property that is not only a string:
// integer, number, boolean, array or object (as JSON), tried in that
// order among the property's types; a string if it allows one and nothing
// else fits.
func coerceText(p *property, text string) (value, bool, error) {
	t := p.types
	if t.has(tInteger) && !t.has(tNumber) {
		n, err := parseInteger(text)
		if err == nil || !t.has(tBoolean|tArray|tObject|tString) {
			return intValue(n), err == nil, err
		}
	}
	if t.has(tNumber) {
		val, err := parseNumber(text)
		if err == nil || !t.has(tBoolean|tArray|tObject|tString) {
			return val, err == nil, err
		}
	}
	if t.has(tBoolean) {
		switch strings.ToLower(text) {
		case "true":
			return boolValue(true), true, nil
		case "false":
			return boolValue(false), true, nil
		}
		if !t.has(tArray | tObject | tString) {
			return value{}, false, problemf(ErrInvalidType, "%s is not a boolean; write true or false", quote(text))
		}
	}
	if t.has(tArray|tObject) && (text[0] == '[' || text[0] == '{' || !t.has(tString)) {
		_, err := decodeJSON([]byte(text))
		ok := err == nil && (t.has(tArray) && text[0] == '[' || t.has(tObject) && text[0] == '{')
		if ok {
			return jsonValue(text)
		}
		if !t.has(tString) {
			what := "an array"
			if !t.has(tArray) {
				what = "an object"
			} else if t.has(tObject) {
				what = "an array or an object"
			}
			return value{}, false, problemf(ErrInvalidType, "%s is not %s in JSON", quote(text), what)
		}
	}
	return stringValue(text), true, nil
}

// wrongType describes a JSON value of a type the property does not allow.
func wrongType(p *property, what string) *problem {
	t := p.types
	switch {
	case t == tString:
		return problemf(ErrMalformed, "must be a string, not %s", what).also(ErrInvalidType)
	case t&^tNull == tInteger:
		return problemf(ErrInvalidInteger, "must be an integer, not %s", what).also(ErrInvalidType)
	}
	return problemf(ErrInvalidType, "must be %s, not %s", typeNames(t), what)
}

// typeNames lists a type set for a message: "a number or a boolean".
func typeNames(t typeSet) string {
	var names []string
	for _, x := range []struct {
		t    typeSet
		name string
	}{{tString, "a string"}, {tInteger &^ tNumber, "an integer"}, {tNumber, "a number"}, {tBoolean, "a boolean"},
		{tArray, "an array"}, {tObject, "an object"}} {
		if t.has(x.t) && !(x.t == tInteger && t.has(tNumber)) {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, " or ")
}

// check applies the property's keywords to a coerced value, and the bounds
// every model shares to file inputs.
func (c *checker) check(p *property, v *rawValue, val value) error {
	if p.enum != nil {
		c.buf = val.appendCanonical(c.buf[:0])
		if !p.enum[string(c.buf)] {
			shown := v.text
			if v.kind == kindCell || v.kind == kindString {
				shown = strings.TrimSpace(shown)
			}
			unit := ""
			if p.name == "duration" {
				unit = " (seconds)"
			}
			return problemf(ErrInvalidEnum, "%s is not one of %s%s", quote(shown), p.enumText, unit)
		}
	}
	switch val.k {
	case vString:
		x := val.s
		if p.maxLen >= 0 || p.minLen >= 0 {
			n := utf8.RuneCountInString(x)
			if p.maxLen >= 0 && n > p.maxLen {
				return problemf(ErrTooLong, "is %d characters long; the limit is %d", n, p.maxLen)
			}
			if p.minLen >= 0 && n < p.minLen {
				return problemf(ErrOutOfRange, "is %d characters long; the minimum is %d", n, p.minLen)
			}
		}
		if p.pattern != nil && !p.pattern.MatchString(x) {
			return problemf(ErrInvalidValue, "%s does not match the pattern %s", quote(x), quote(p.pattern.String()))
		}
	case vInt, vFloat:
		if p.min == nil && p.max == nil && p.exMin == nil && p.exMax == nil && p.multiple == nil {
			return nil
		}
		num := new(big.Rat)
		if val.k == vInt {
			num.SetInt64(val.n)
		} else {
			num.SetFloat64(math.Float64frombits(uint64(val.n)))
		}
		shown := val.text()
		switch {
		case p.min != nil && num.Cmp(p.min) < 0:
			return problemf(ErrOutOfRange, "%s is less than the minimum %s", shown, ratText(p.min))
		case p.max != nil && num.Cmp(p.max) > 0:
			return problemf(ErrOutOfRange, "%s is more than the maximum %s", shown, ratText(p.max))
		case p.exMin != nil && num.Cmp(p.exMin) <= 0:
			return problemf(ErrOutOfRange, "%s must be more than %s", shown, ratText(p.exMin))
		case p.exMax != nil && num.Cmp(p.exMax) >= 0:
			return problemf(ErrOutOfRange, "%s must be less than %s", shown, ratText(p.exMax))
		case p.multiple != nil && !new(big.Rat).Quo(num, p.multiple).IsInt():
			return problemf(ErrOutOfRange, "%s is not a multiple of %s", shown, ratText(p.multiple))
		}
	}
	return nil
}

func ratText(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return string(appendES6Number(nil, f))
}

// filesNoun is the plural of a fileNoun.
func filesNoun(noun string) string {
	if noun == "audio" {
		return "audio files"
	}
	return noun + "s"
}

// fileNoun names what a file input holds, for messages.
func fileNoun(name string) string {
	l := strings.ToLower(name)
	for _, n := range []string{"image", "video", "audio", "mask"} {
		if strings.Contains(l, n) {
			return n
		}
	}
	return "file"
}

// checkLibrary checks the row with the compiled schema, for the keywords
// the fast checks do not cover. Each error names the field by the first
// segment of its instance location (the row itself if it has none).
func (c *checker) checkLibrary(raw *rawRow, in Input, addErr func(slot int, err error)) {
	if c.doc == nil {
		c.doc = make(map[string]any, len(in.fields))
	}
	clear(c.doc)
	for _, f := range in.fields {
		c.doc[f.name] = f.v.any()
	}
	err := c.schema.compiled.Validate(c.doc)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return
	}
	for _, leaf := range leafErrors(ve, nil) {
		slot := slotRow
		if len(leaf.InstanceLocation) > 0 {
			if i, ok := c.schema.index[leaf.InstanceLocation[0]]; ok {
				slot = i + 1
			}
		}
		msg := leaf.ErrorKind.LocalizedString(messagePrinter)
		if len(leaf.InstanceLocation) > 1 {
			msg = "at /" + strings.Join(leaf.InstanceLocation[1:], "/") + ": " + msg
		}
		if r, ok := leaf.ErrorKind.(*kind.Required); ok && slot == slotRow && len(r.Missing) > 0 {
			if i, ok := c.schema.index[r.Missing[0]]; ok {
				slot = i + 1
				msg = "missing; the model requires it"
			}
		}
		addErr(slot, problemf(libraryKind(leaf.ErrorKind), "%s", printable(msg, 0)))
	}
}

var messagePrinter = message.NewPrinter(language.English)

// leafErrors returns the errors without causes: the ones that say what is
// wrong, rather than "allOf failed".
func leafErrors(ve *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return append(out, ve)
	}
	for _, c := range ve.Causes {
		out = leafErrors(c, out)
	}
	return out
}

// libraryKind maps the library's error kinds to this package's sentinels.
func libraryKind(k jsonschema.ErrorKind) error {
	switch k.(type) {
	case *kind.Required, *kind.DependentRequired, *kind.Dependency:
		return ErrRequired
	case *kind.Enum, *kind.Const:
		return ErrInvalidEnum
	case *kind.Type:
		return ErrInvalidType
	case *kind.MaxLength, *kind.MaxItems, *kind.MaxProperties:
		return ErrTooLong
	case *kind.Minimum, *kind.Maximum, *kind.ExclusiveMinimum, *kind.ExclusiveMaximum, *kind.MultipleOf,
		*kind.MinLength, *kind.MinItems, *kind.MinProperties:
		return ErrOutOfRange
	}
	return ErrInvalidValue
}

// parseNumber reads a number written as JSON writes one (see isJSONNumber),
// an integer when it is one that fits in 64 bits. Go's other spellings
// (0x1p4, 1_000, .5, 05, Inf) are refused: the API would get another text than the one
// written, or a value the user did not mean. So is a non-zero number too
// small for a float64, which would go out as 0, and one too large for it.
func parseNumber(s string) (value, error) {
	if !isJSONNumber(s) {
		if !strings.ContainsAny(s, "0123456789") {
			return value{}, problemf(ErrInvalidType, "%s is not a number", quote(s))
		}
		return value{}, problemf(ErrInvalidType, "%s is not a number; write it as JSON does, in decimal digits with an optional '.' and exponent (1000, 0.5, 1.5e-3)", quote(s))
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return intValue(n), nil
	}
	f, _ := strconv.ParseFloat(s, 64) // JSON syntax: it parses, perhaps to ±Inf or 0
	switch {
	case math.IsInf(f, 0):
		return value{}, problemf(ErrInvalidType, "%s is too large for a number", quote(s))
	case f == 0 && hasNonZeroDigit(s):
		return value{}, problemf(ErrInvalidType, "%s is too small to send as a number: it would be 0", quote(s)).also(ErrOutOfRange)
	}
	return floatValue(f), nil
}

// isJSONNumber reports whether s is a number in JSON's grammar,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, or such a number with
// a '+' sign: earlier versions read "+7" as 7, and the keys of batches
// begun then must not change.
func isJSONNumber(s string) bool {
	i := 0
	if strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "+-") {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// hasNonZeroDigit reports whether the digits of a JSON number before its
// exponent are not all zero.
func hasNonZeroDigit(s string) bool {
	for i := 0; i < len(s) && s[i] != 'e' && s[i] != 'E'; i++ {
		if '1' <= s[i] && s[i] <= '9' {
			return true
		}
	}
	return false
}

// parseInteger reads an integer written as JSON writes one (see
// isJSONNumber), in 64 bits: no leading zeros, underscores or other bases,
// which Go reads as another number than a user or the API might.
func parseInteger(s string) (int64, error) {
	if !isJSONNumber(s) || strings.ContainsAny(s, ".eE") {
		return 0, problemf(ErrInvalidInteger, "%s is not an integer", quote(s))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, problemf(ErrInvalidInteger, "%s does not fit in a 64-bit integer", quote(s))
	}
	if err != nil {
		return 0, problemf(ErrInvalidInteger, "%s is not an integer", quote(s))
	}
	return n, nil
}

// checkFileURL accepts absolute https URLs with a host and no userinfo,
// and http URLs of a loopback host: the API fetches the file itself, over
// https only [doc], with an unauthenticated GET; the simulator's rehearsals
// serve files on loopback. noun says what the file is, for messages.
// Bucket URLs and local files are not URLs the API fetches as they are:
// fileValue sends them elsewhere first.
func checkFileURL(s, noun string) error {
	if len(s) > MaxImageURLBytes {
		return problemf(ErrInvalidURL, "the URL is %d bytes long; the limit is %d", len(s), MaxImageURLBytes).also(ErrTooLong)
	}
	u, err := url.Parse(s)
	if err != nil {
		return problemf(ErrInvalidURL, "%s is not a valid URL", quoteURL(s))
	}
	switch u.Scheme { // url.Parse lower-cases the scheme
	case "http", "https":
	case "":
		return problemf(ErrInvalidURL, "%s is not an absolute URL; give the full https:// address of the %s", quoteURL(s), noun)
	default:
		return problemf(ErrInvalidURL, "%s uses the %s: scheme; the API fetches %s over https only", quoteURL(s), printable(u.Scheme, 16), filesNoun(noun))
	}
	switch {
	case u.Hostname() == "":
		return problemf(ErrInvalidURL, "%s has no host", quoteURL(s))
	case u.User != nil:
		return problemf(ErrInvalidURL, "%s holds a user name or password; the API fetches the %s without credentials, so they cannot work: use a public or pre-signed https URL", quoteURL(s), noun)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return problemf(ErrInvalidURL, "%s is not https; the API fetches %s over https only (http is accepted only for a loopback host, for rehearsals)", quoteURL(s), filesNoun(noun))
	}
	return nil
}

// checkID makes sure an id is safe as a file name on Linux, macOS and
// Windows, since the runner names output files after it.
func checkID(id string) error {
	for _, c := range id {
		if !isIDChar(c) {
			return problemf(ErrUnsafeID, "id %s contains %q; ids name files, so use only letters, digits, '.', '_' and '-'", quote(id), c)
		}
	}
	if len(id) > MaxIDLength {
		return problemf(ErrUnsafeID, "id %s is %d characters long; the limit is %d", quote(id), len(id), MaxIDLength).also(ErrTooLong)
	}
	if id[0] == '.' || id[0] == '-' {
		return problemf(ErrUnsafeID, "id %s must not start with %q", quote(id), id[0])
	}
	if id[len(id)-1] == '.' {
		// Windows drops a trailing dot, so "a." and "a" would be one file.
		return problemf(ErrUnsafeID, "id %s must not end with '.'", quote(id))
	}
	if isReservedName(id) {
		return problemf(ErrUnsafeID, "id %s is a reserved file name on Windows", quote(id))
	}
	return nil
}

func isIDChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// isReservedName reports whether Windows reserves id as a device name, also
// with an extension ("con.txt").
func isReservedName(id string) bool {
	base, _, _ := strings.Cut(id, ".")
	switch strings.ToUpper(base) {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(base) == 4 && '1' <= base[3] && base[3] <= '9' {
		switch strings.ToUpper(base[:3]) {
		case "COM", "LPT":
			return true
		}
	}
	return false
}

// quoteURL quotes a URL for a message, without its secrets (see redact.URL).
func quoteURL(s string) string { return quote(redact.URL(s)) }

// quote quotes a value for a message, shortened so that a long value (say
// a data: URL) does not flood the output.
func quote(s string) string {
	const maxRunes = 64
	if utf8.RuneCountInString(s) > maxRunes {
		n := 0
		for i := range s {
			if n == maxRunes {
				s = s[:i] + "…"
				break
			}
			n++
		}
	}
	return strconv.Quote(s)
}

// suggestColumn returns a known name close to an unknown one, or "".
func suggestColumn(known []string, name string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k
		}
		if d := EditDistance(name, k); d < bestDist && d < len(name) {
			best, bestDist = k, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance between two names, by bytes,
// for suggesting a near one: a column, a flag, a help topic. Names over 64
// bytes are 64 apart from everything, which keeps the work small.
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// rowBounds says why no valid row is longer than MaxRowBytes, for errors.
func (s *Schema) rowBounds() string {
	if s.IsPika() {
		return fmt.Sprintf("promptText and negativePrompt are at most %d characters, image %d bytes", MaxPromptRunes, MaxImageURLBytes)
	}
	return fmt.Sprintf("the request body is at most %d bytes", MaxBodyBytes)
}

// shortenHint says what to shorten when a body is too large.
func (s *Schema) shortenHint() string {
	if s.IsPika() {
		return "shorten the image URL or the prompts"
	}
	return "shorten the longest values"
}

// fieldName is an unknown column or key's name as a RowError's Field:
// shortened, and with control characters escaped, since it is printed as is.
func fieldName(name string) string { return printable(name, 64) }

// unknownColumn describes an unknown column or key.
func (s *Schema) unknownColumn(kind, name string) *problem {
	known := s.known()
	switch {
	case kind == "column" && (strings.Contains(name, ";") || strings.Contains(name, "\t")):
		return problemf(ErrUnknownColumn, "unknown column %s: separate columns with commas, not semicolons or tabs", quote(name))
	}
	if sugg := suggestColumn(known, name); sugg != "" {
		return problemf(ErrUnknownColumn, "unknown %s %s; did you mean %q? (names are case-sensitive)", kind, quote(name), sugg)
	}
	return problemf(ErrUnknownColumn, "unknown %s %s; known names are %s", kind, quote(name), strings.Join(known, ", "))
}
