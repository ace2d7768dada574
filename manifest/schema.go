package manifest

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// PikaModel is the model whose input schema is built in: a manifest for it
// needs no catalog and no --schema.
const PikaModel = "pika/pika-2-2/image-to-video"

//go:embed schemas/*.json
var builtinSchemas embed.FS

// builtinFiles maps a model to its embedded schema file.
var builtinFiles = map[string]string{
	PikaModel: "schemas/pika-pika-2-2-image-to-video.json",
}

// ErrInvalidSchema means a JSON Schema document could not be used: it is
// not JSON, not a valid schema of its draft, or its root does not describe
// an object with properties.
var ErrInvalidSchema = errors.New("invalid input schema")

// Schema is a model's input schema, compiled: what columns a manifest may
// have, how a CSV cell is coerced (by its property's type), and what a row
// must satisfy. It is immutable and safe for concurrent use.
//
// Rows are checked in two steps. Each property's own keywords (type, enum,
// const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf,
// minLength, maxLength, pattern) and the root's required are checked by this
// package, with messages that name the row's column as spelled; that covers
// the flat schemas models have, at a fraction of a generic validator's cost
// per row. A schema that uses anything more (allOf, if/then, items,
// dependentRequired...) is in addition checked row by row by the compiled
// jsonschema.Schema, whose errors name the field by the first segment of
// their instance location. TestSchemaAgreesWithLibrary holds the first step
// to the library on the keywords it covers.
type Schema struct {
	name     string
	raw      []byte
	compiled *jsonschema.Schema
	props    []*property       // in document order: the order of the submit body
	index    map[string]int    // property name and aliases → index in props
	aliases  map[string]string // alias → property name
	required []string
	full     bool // the library must check every row (see the type's doc)
}

// property is one property of the root object, with what the fast checks
// need taken out of the compiled schema.
type property struct {
	name     string
	aliases  []string
	types    typeSet
	enum     map[string]bool // canonical encodings of the allowed values; nil if no enum
	enumText string          // the allowed values, for messages: "720p, 1080p"
	min, max *big.Rat
	exMin    *big.Rat
	exMax    *big.Rat
	multiple *big.Rat
	minLen   int // -1 if unset
	maxLen   int // -1 if unset
	pattern  jsonschema.Regexp
	file     bool      // a file input: a URL the API fetches, a bucket URL or a local file
	media    MediaKind // what a file input takes, by its format; MediaOther if it does not say
	def      any       // the default, normalised as Lookup gives values; nil if none
	defv     value     // the default as held in an Input
	required bool
}

// typeSet is a set of JSON types.
type typeSet uint8

const (
	tString typeSet = 1 << iota
	tInteger
	tNumber
	tBoolean
	tArray
	tObject
	tNull
	tAny = tString | tInteger | tNumber | tBoolean | tArray | tObject | tNull
)

func (t typeSet) has(u typeSet) bool { return t&u != 0 }

// BuiltinSchema returns the built-in input schema of model, if there is one:
// today only PikaModel's.
func BuiltinSchema(model string) (*Schema, bool) {
	if model == PikaModel {
		return pikaSchema, true
	}
	return compileBuiltin(model)
}

func compileBuiltin(model string) (*Schema, bool) {
	file, ok := builtinFiles[model]
	if !ok {
		return nil, false
	}
	raw, err := builtinSchemas.ReadFile(file)
	if err != nil {
		panic("manifest: built-in schema missing: " + err.Error())
	}
	s, err := CompileSchema(model, raw)
	if err != nil {
		panic("manifest: built-in schema invalid: " + err.Error())
	}
	return s, true
}

// pikaSchema is the built-in schema of PikaModel, compiled once: it is the
// default of Open, NewReader and Validate.
var pikaSchema = func() *Schema {
	s, _ := compileBuiltin(PikaModel)
	return s
}()

// PikaSchema returns the built-in input schema of PikaModel.
func PikaSchema() *Schema { return pikaSchema }

// CompileSchema compiles a JSON Schema document (drafts 4, 6, 7, 2019-09 and
// 2020-12; 2020-12 if it names none) describing a model's input object. name
// says where it came from, for errors (a model ID or a file name). The
// document's references must be internal: nothing is fetched. Besides the
// standard keywords, a property may list other accepted column names in
// "x-pikabatch-aliases".
func CompileSchema(name string, raw []byte) (*Schema, error) {
	fail := func(err error) (*Schema, error) {
		return nil, fmt.Errorf("schema %s: %w: %w", printable(name, 64), ErrInvalidSchema, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fail(err)
	}
	if n := countProperties(doc); n > MaxSchemaProperties {
		return fail(fmt.Errorf("the schema has %d properties; pikabatch reads schemas of at most %d (a model's input has a few dozen)", n, MaxSchemaProperties))
	}
	loc := "https://pikabatch.invalid/schema/" + url.PathEscape(name) + ".json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(offlineLoader{})
	if err := c.AddResource(loc, doc); err != nil {
		return fail(err)
	}
	compiled, err := c.Compile(loc)
	if err != nil {
		return fail(err)
	}
	if err := refCycle(compiled); err != nil {
		return fail(err)
	}
	s := &Schema{name: name, raw: bytes.Clone(raw), compiled: compiled,
		index: map[string]int{}, aliases: map[string]string{}}
	if err := s.build(raw); err != nil {
		return fail(err)
	}
	return s, nil
}

// MaxSchemaProperties bounds the properties a schema may have, counted
// in every "properties" object of the document. A model's input has a few
// dozen; a schema of tens of thousands (hostile, or generated by mistake)
// would take the schema library seconds of CPU and hundreds of MB to
// compile, its compile time growing with the square of the count.
const MaxSchemaProperties = 1000

// countProperties counts the members of every "properties" object in a
// decoded JSON Schema document, in one walk.
func countProperties(v any) int {
	n := 0
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if m, ok := x.(map[string]any); ok && k == "properties" {
				n += len(m)
			}
			n += countProperties(x)
		}
	case []any:
		for _, x := range v {
			n += countProperties(x)
		}
	}
	return n
}

// offlineLoader refuses every URL: a schema given offline must not reach
// the network (or the disk) through a $ref.
type offlineLoader struct{}

func (offlineLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("%s: references to other documents are not supported", u)
}

// build takes out of the compiled schema what the fast checks need, and
// the properties' order and aliases out of the document.
func (s *Schema) build(raw []byte) error {
	root := s.compiled
	for root.Ref != nil && isBareRef(root) {
		root = root.Ref
	}
	if root.Types != nil && !root.Types.IsEmpty() && !slices.Contains(root.Types.ToStrings(), "object") {
		return errors.New("the root must describe an object")
	}
	if len(root.Properties) == 0 {
		return errors.New("the root has no properties")
	}
	order, aliases, formats, err := propertyOrder(raw)
	if err != nil {
		return err
	}
	// Names the document lists in order first (from "properties" of its
	// root), then any others the compiled schema has, sorted.
	names := slices.DeleteFunc(order, func(n string) bool { _, ok := root.Properties[n]; return !ok })
	listed := make(map[string]bool, len(names)) // sets, not slices.Contains: linear in the properties
	for _, n := range names {
		listed[n] = true
	}
	var rest []string
	for n := range root.Properties {
		if !listed[n] {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	names = append(names, rest...)

	s.full = !isFlatRoot(root)
	required := make(map[string]bool, len(root.Required))
	for _, n := range root.Required {
		required[n] = true
		if _, ok := root.Properties[n]; ok {
			s.required = append(s.required, n)
		} else {
			s.full = true // a required name that is no property: the library reports it
		}
	}
	for i, n := range names {
		if n == "id" {
			return errors.New(`a property is named "id", which is the manifest's row key; rename it or leave it out`)
		}
		p, flat := newProperty(n, root.Properties[n], formats[n])
		if !flat {
			s.full = true
		}
		p.required = required[n]
		p.aliases = aliases[n]
		s.props = append(s.props, p)
		s.index[n] = i
	}
	for i, p := range s.props {
		for _, a := range p.aliases {
			if _, taken := s.index[a]; taken || a == "id" {
				return fmt.Errorf("alias %q of %q is already a name", a, p.name)
			}
			s.index[a] = i
			s.aliases[a] = p.name
		}
	}
	return nil
}

// isBareRef reports whether sch is only a $ref, as a root often is.
func isBareRef(sch *jsonschema.Schema) bool {
	return sch.Types == nil && len(sch.Properties) == 0 && len(sch.AllOf) == 0
}

// isFlatRoot reports whether the root uses only keywords the fast checks
// cover (or that say nothing about a row).
func isFlatRoot(r *jsonschema.Schema) bool {
	_, closed := r.AdditionalProperties.(bool)
	return r.Ref == nil && r.RecursiveRef == nil && r.DynamicRef == nil && r.Enum == nil && r.Const == nil &&
		r.Not == nil && len(r.AllOf) == 0 && len(r.AnyOf) == 0 && len(r.OneOf) == 0 && r.If == nil &&
		r.MaxProperties == nil && r.MinProperties == nil && r.PropertyNames == nil &&
		len(r.PatternProperties) == 0 && (r.AdditionalProperties == nil || closed) &&
		len(r.Dependencies) == 0 && len(r.DependentRequired) == 0 && len(r.DependentSchemas) == 0 &&
		r.UnevaluatedProperties == nil && len(r.Extensions) == 0
}

// newProperty describes a property; flat is false when its schema uses a
// keyword the fast checks do not cover. format is its "format" as the
// document writes it (see setFormat).
func newProperty(name string, sch *jsonschema.Schema, format string) (p *property, flat bool) {
	p = &property{name: name, minLen: -1, maxLen: -1}
	flat = sch.Ref == nil && sch.RecursiveRef == nil && sch.DynamicRef == nil && sch.Bool == nil &&
		sch.Not == nil && len(sch.AllOf) == 0 && len(sch.AnyOf) == 0 && len(sch.OneOf) == 0 && sch.If == nil &&
		sch.Items == nil && sch.Items2020 == nil && len(sch.PrefixItems) == 0 && sch.Contains == nil &&
		sch.MinItems == nil && sch.MaxItems == nil && !sch.UniqueItems &&
		len(sch.Properties) == 0 && len(sch.Required) == 0 && sch.AdditionalProperties == nil &&
		sch.ContentEncoding == nil && sch.ContentMediaType == nil && len(sch.Extensions) == 0
	if sch.Types != nil && !sch.Types.IsEmpty() {
		for _, t := range sch.Types.ToStrings() {
			p.types |= typeOf(t)
		}
	}
	if sch.Enum != nil {
		p.enum = map[string]bool{}
		var text []string
		for _, v := range sch.Enum.Values {
			v = normalize(v)
			p.enum[string(appendCanonicalValue(nil, v))] = true
			text = append(text, valueText(v))
			if sch.Types == nil || sch.Types.IsEmpty() {
				p.types |= typeOfValue(v)
			}
		}
		p.enumText = strings.Join(text, ", ")
	}
	if sch.Const != nil {
		v := normalize(*sch.Const)
		p.enum = map[string]bool{string(appendCanonicalValue(nil, v)): true}
		p.enumText = valueText(v)
		if sch.Types == nil || sch.Types.IsEmpty() {
			p.types |= typeOfValue(v)
		}
	}
	if p.types == 0 {
		p.types = tAny
	}
	if p.types.has(tNumber) {
		p.types |= tInteger // every integer is a number
	}
	p.min, p.max, p.exMin, p.exMax, p.multiple = sch.Minimum, sch.Maximum, sch.ExclusiveMinimum, sch.ExclusiveMaximum, sch.MultipleOf
	if sch.MinLength != nil {
		p.minLen = *sch.MinLength
	}
	if sch.MaxLength != nil {
		p.maxLen = *sch.MaxLength
	}
	p.pattern = sch.Pattern
	if sch.Default != nil {
		p.def = normalize(*sch.Default)
		p.defv, _ = toValue(p.def)
	}
	isURI := sch.Format != nil && (sch.Format.Name == "uri" || sch.Format.Name == "iri")
	p.file = p.types.has(tString) && (isURI || isFileName(name))
	p.setFormat(format)
	return p, flat
}

// setFormat applies a property's format as the document writes it: the
// catalog's media formats (image_uri, video_uri, audio_uri) are no
// standard format, which the schema library leaves out, but they say the
// field is a file and of which kind.
func (p *property) setFormat(format string) {
	if strings.HasSuffix(format, "_uri") && p.types.has(tString) {
		p.file = true
	}
	p.media = formatMedia(format)
}

// formatMedia is what a file field of the given format takes.
func formatMedia(format string) MediaKind {
	switch format {
	case "image_uri":
		return MediaImage
	case "video_uri":
		return MediaVideo
	case "audio_uri":
		return MediaAudio
	}
	return MediaOther
}

// isFileName reports whether a property's name says it is a file the API
// fetches: image, video, audio, or a name ending in _url or Url
// (image_url, video_url, audio_url, maskUrl).
func isFileName(name string) bool {
	switch name {
	case "image", "video", "audio":
		return true
	}
	return strings.HasSuffix(name, "_url") || strings.HasSuffix(name, "Url")
}

func typeOf(t string) typeSet {
	switch t {
	case "string":
		return tString
	case "integer":
		return tInteger
	case "number":
		return tNumber
	case "boolean":
		return tBoolean
	case "array":
		return tArray
	case "object":
		return tObject
	case "null":
		return tNull
	}
	return 0
}

func typeOfValue(v any) typeSet {
	switch v.(type) {
	case string:
		return tString
	case int64:
		return tInteger
	case float64:
		return tNumber
	case bool:
		return tBoolean
	case []any:
		return tArray
	case map[string]any:
		return tObject
	}
	return tNull
}

// propertyOrder returns the names of the root's "properties" in document
// order, and each one's "x-pikabatch-aliases" and "format" as written.
// encoding/json's maps lose
// the order, which is the order of the submit body (and of an export's
// columns).
func propertyOrder(raw []byte) (names []string, aliases map[string][]string, formats map[string]string, err error) {
	var root struct {
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil, nil, nil, err
	}
	aliases, formats = map[string][]string{}, map[string]string{}
	if len(root.Properties) == 0 {
		return nil, aliases, formats, nil
	}
	dec := json.NewDecoder(bytes.NewReader(root.Properties))
	if _, err := dec.Token(); err != nil { // {
		return nil, nil, nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, nil, err
		}
		name, _ := tok.(string)
		var prop struct {
			Aliases []string `json:"x-pikabatch-aliases"`
			Format  string   `json:"format"`
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, nil, err
		}
		_ = json.Unmarshal(v, &prop) // a boolean schema has no aliases
		names = append(names, name)
		if len(prop.Aliases) > 0 {
			aliases[name] = prop.Aliases
		}
		if prop.Format != "" {
			formats[name] = prop.Format
		}
	}
	return names, aliases, formats, nil
}

// Name returns where the schema came from: a model ID or a file name.
func (s *Schema) Name() string { return s.name }

// Raw returns the JSON Schema document as given, so that it can be
// recorded (in the state, for resume without a catalog). The caller must
// not modify it.
func (s *Schema) Raw() []byte { return s.raw }

// IsPika reports whether s is the built-in schema of PikaModel, whose rows
// and exports keep the columns pikabatch always had.
func (s *Schema) IsPika() bool {
	return s == pikaSchema || pikaSchema != nil && bytes.Equal(s.raw, pikaSchema.raw)
}

// Fields returns the names of the model's input fields, in the schema's
// order.
func (s *Schema) Fields() []string {
	names := make([]string, len(s.props))
	for i, p := range s.props {
		names[i] = p.name
	}
	return names
}

// FileFields returns the names of the fields that are file inputs: URLs
// the API fetches (format "uri", "image_uri", "video_uri"…, or a name such
// as image, image_url, video_url, audio_url). They hold https URLs, bucket
// URLs or local files (see LocalFiles), and `validate --check-urls` probes
// them.
func (s *Schema) FileFields() []string {
	var names []string
	for _, p := range s.props {
		if p.file {
			names = append(names, p.name)
		}
	}
	return names
}

// Default returns the schema's default for a field, if it has one.
func (s *Schema) Default(field string) (any, bool) {
	i, ok := s.index[field]
	if !ok || s.props[i].def == nil {
		return nil, false
	}
	return s.props[i].def, true
}

// Aliases returns the other names each field accepts as a column, alias →
// field.
func (s *Schema) Aliases() map[string]string {
	m := make(map[string]string, len(s.aliases))
	for a, n := range s.aliases {
		m[a] = n
	}
	return m
}

// known returns every accepted column name: id, the fields, the aliases.
func (s *Schema) known() []string {
	names := append([]string{"id"}, s.Fields()...)
	for _, p := range s.props {
		names = append(names, p.aliases...)
	}
	return names
}

// normalize turns a value decoded by jsonschema.UnmarshalJSON or
// encoding/json with UseNumber into a value of Input: json.Number becomes
// int64 if it is an integer that fits, float64 otherwise.
func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		return numberValue(string(v))
	case float32:
		return float64(v)
	case int:
		return int64(v)
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
		return v
	case map[string]any:
		for k := range v {
			v[k] = normalize(v[k])
		}
		return v
	}
	return v
}

// numberValue parses a JSON number: int64 if it is written as an integer
// that fits, or is a whole number (1.0, 1e3), float64 otherwise.
func numberValue(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	f, _ := strconv.ParseFloat(s, 64)
	if n, ok := integral(f); ok {
		return n
	}
	return f
}

// integral returns f as an int64 when it is a whole number that an int64
// holds exactly, so that 5, 5.0 and 5e0 are one value.
func integral(f float64) (int64, bool) {
	if f == float64(int64(f)) && f >= -(1<<53) && f <= 1<<53 {
		return int64(f), true
	}
	return 0, false
}

// decodeJSON decodes a JSON value (a CSV cell holding an array or an
// object, or a JSONL member) into a value of Input.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected text after the value")
	}
	return normalize(v), nil
}
