package manifest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

// t2iSchema is a text-to-image model's input schema with a field of every
// type the manifest coerces.
const t2iSchema = `{
  "type": "object",
  "properties": {
    "prompt":     {"type": "string", "minLength": 1, "maxLength": 20},
    "steps":      {"type": "integer", "minimum": 1, "maximum": 50},
    "guidance":   {"type": "number", "exclusiveMinimum": 0, "maximum": 20},
    "tiling":     {"type": "boolean"},
    "size":       {"type": "string", "enum": ["512x512", "1024x1024"], "default": "512x512"},
    "loras":      {"type": "array"},
    "extra":      {"type": "object"},
    "init_image": {"type": "string", "format": "uri"},
    "style":      {"type": "string", "pattern": "^[a-z]+$"}
  },
  "required": ["prompt"],
  "additionalProperties": false
}`

func compileT2I(t testing.TB) *manifest.Schema {
	t.Helper()
	s, err := manifest.CompileSchema("t2i.json", []byte(t2iSchema))
	require.NoError(t, err)
	return s
}

// readWith reads a manifest given as text with schema, returning rows and
// every problem.
func readWith(t *testing.T, s *manifest.Schema, name, content string) ([]manifest.Row, []*manifest.RowError) {
	t.Helper()
	r, err := manifest.NewReaderConfig(strings.NewReader(content), name, manifest.Config{Schema: s})
	if err != nil {
		var ve *manifest.ValidationError
		require.ErrorAs(t, err, &ve)
		return nil, ve.Errors
	}
	var rows []manifest.Row
	var errs []*manifest.RowError
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return rows, errs
		}
		var ve *manifest.ValidationError
		var re *manifest.RowError
		switch {
		case err == nil:
			rows = append(rows, row)
		case errors.As(err, &ve):
			errs = append(errs, ve.Errors...)
		case errors.As(err, &re):
			errs = append(errs, re)
		default:
			t.Fatalf("read: %v", err)
		}
	}
}

// TestSchemaCoercion: a CSV cell becomes its field's type; a JSONL value is
// taken as it is. Both give the same Input for the same row.
func TestSchemaCoercion(t *testing.T) {
	t.Parallel()
	s := compileT2I(t)
	want := `{"prompt":"a fox","steps":20,"guidance":7.5,"tiling":true,"size":"1024x1024","loras":["a",{"w":0.5}],"extra":{"k":1},"init_image":"https://img.example.com/x.png","style":"anime"}`
	csv := "prompt,steps,guidance,tiling,size,loras,extra,init_image,style\n" +
		`a fox,20,7.5,TRUE,1024x1024,"[""a"",{""w"":0.5}]","{""k"":1}",https://img.example.com/x.png,anime` + "\n"
	jsonl := want + "\n"
	for name, content := range map[string]string{"m.csv": csv, "m.jsonl": jsonl} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rows, errs := readWith(t, s, name, content)
			require.Empty(t, errs)
			require.Len(t, rows, 1)
			body, err := json.Marshal(rows[0].Input)
			require.NoError(t, err)
			assert.Equal(t, want, string(body))
			v, ok := rows[0].Input.Lookup("steps")
			assert.True(t, ok)
			assert.Equal(t, int64(20), v)
			v, _ = rows[0].Input.Lookup("guidance")
			assert.Equal(t, 7.5, v)
			v, _ = rows[0].Input.Lookup("tiling")
			assert.Equal(t, true, v)
		})
	}
	t.Run("same row, same key", func(t *testing.T) {
		t.Parallel()
		a, _ := readWith(t, s, "m.csv", csv)
		b, _ := readWith(t, s, "m.jsonl", jsonl)
		require.Len(t, a, 1)
		require.Len(t, b, 1)
		assert.Equal(t, a[0].Key, b[0].Key)
		assert.Equal(t, a[0].Input.Hash(), b[0].Input.Hash())
	})
}

// TestSchemaRules: every keyword the schema has is checked, in both
// formats, each error naming file, line and field.
func TestSchemaRules(t *testing.T) {
	t.Parallel()
	s := compileT2I(t)
	tests := []struct {
		name       string
		csvHeader  string
		csvRow     string
		jsonl      string
		field      string
		is         error
		msg        string // the message after "FILE:LINE: field FIELD: "
		jsonlField string // the JSONL message when it differs (values taken as they are)
		jsonlIs    error
		jsonlMsg   string
	}{
		{name: "integer not an integer", csvHeader: "prompt,steps", csvRow: "a,many", jsonl: `{"prompt":"a","steps":"many"}`,
			field: "steps", is: manifest.ErrInvalidInteger, msg: `"many" is not an integer`},
		{name: "integer a fraction", csvHeader: "prompt,steps", csvRow: "a,2.5", jsonl: `{"prompt":"a","steps":2.5}`,
			field: "steps", is: manifest.ErrInvalidInteger, msg: `"2.5" is not an integer`},
		{name: "integer below minimum", csvHeader: "prompt,steps", csvRow: "a,0", jsonl: `{"prompt":"a","steps":0}`,
			field: "steps", is: manifest.ErrOutOfRange, msg: `0 is less than the minimum 1`},
		{name: "integer above maximum", csvHeader: "prompt,steps", csvRow: "a,51", jsonl: `{"prompt":"a","steps":51}`,
			field: "steps", is: manifest.ErrOutOfRange, msg: `51 is more than the maximum 50`},
		{name: "number not a number", csvHeader: "prompt,guidance", csvRow: "a,high", jsonl: `{"prompt":"a","guidance":"high"}`,
			field: "guidance", is: manifest.ErrInvalidType, msg: `"high" is not a number`},
		{name: "number at exclusive minimum", csvHeader: "prompt,guidance", csvRow: "a,0", jsonl: `{"prompt":"a","guidance":0}`,
			field: "guidance", is: manifest.ErrOutOfRange, msg: `0 must be more than 0`},
		{name: "number above maximum", csvHeader: "prompt,guidance", csvRow: "a,20.5", jsonl: `{"prompt":"a","guidance":20.5}`,
			field: "guidance", is: manifest.ErrOutOfRange, msg: `20.5 is more than the maximum 20`},
		{name: "boolean not a boolean", csvHeader: "prompt,tiling", csvRow: "a,yes", jsonl: `{"prompt":"a","tiling":"yes"}`,
			field: "tiling", is: manifest.ErrInvalidType, msg: `"yes" is not a boolean; write true or false`},
		{name: "boolean given a number", csvHeader: "prompt,tiling", csvRow: "a,1", jsonl: `{"prompt":"a","tiling":1}`,
			field: "tiling", is: manifest.ErrInvalidType, msg: `"1" is not a boolean; write true or false`,
			jsonlMsg: `must be a boolean, not a number`},
		{name: "enum", csvHeader: "prompt,size", csvRow: "a,800x600", jsonl: `{"prompt":"a","size":"800x600"}`,
			field: "size", is: manifest.ErrInvalidEnum, msg: `"800x600" is not one of 512x512, 1024x1024`},
		{name: "string too long", csvHeader: "prompt", csvRow: strings.Repeat("é", 21), jsonl: `{"prompt":"` + strings.Repeat("é", 21) + `"}`,
			field: "prompt", is: manifest.ErrTooLong, msg: `is 21 characters long; the limit is 20`},
		{name: "string required", csvHeader: "prompt,steps", csvRow: ",3", jsonl: `{"steps":3}`,
			field: "prompt", is: manifest.ErrRequired, msg: `is empty; the model requires it`,
			jsonlMsg: `missing; the model requires it`},
		{name: "string given a number", csvHeader: "prompt,style", csvRow: "a,7", jsonl: `{"prompt":"a","style":7}`,
			field: "style", is: manifest.ErrInvalidValue, msg: `"7" does not match the pattern "^[a-z]+$"`,
			jsonlIs: manifest.ErrMalformed, jsonlMsg: `must be a string, not a number`},
		{name: "pattern", csvHeader: "prompt,style", csvRow: "a,Anime", jsonl: `{"prompt":"a","style":"Anime"}`,
			field: "style", is: manifest.ErrInvalidValue, msg: `"Anime" does not match the pattern "^[a-z]+$"`},
		{name: "array not JSON", csvHeader: "prompt,loras", csvRow: "a,x y", jsonl: `{"prompt":"a","loras":"x y"}`,
			field: "loras", is: manifest.ErrInvalidType, msg: `"x y" is not an array in JSON`},
		{name: "array given an object", csvHeader: "prompt,loras", csvRow: `a,"{""a"":1}"`, jsonl: `{"prompt":"a","loras":{"a":1}}`,
			field: "loras", is: manifest.ErrInvalidType, msg: `"{\"a\":1}" is not an array in JSON`,
			jsonlMsg: `must be an array, not an object`},
		{name: "object given an array", csvHeader: "prompt,extra", csvRow: `a,[1]`, jsonl: `{"prompt":"a","extra":[1]}`,
			field: "extra", is: manifest.ErrInvalidType, msg: `"[1]" is not an object in JSON`,
			jsonlMsg: `must be an object, not an array`},
		{name: "file input not https", csvHeader: "prompt,init_image", csvRow: "a,http://img.example.com/x.png", jsonl: `{"prompt":"a","init_image":"http://img.example.com/x.png"}`,
			field: "init_image", is: manifest.ErrInvalidURL, msg: `"http://img.example.com/x.png" is not https; the API fetches images over https only (http is accepted only for a loopback host, for rehearsals)`},
		{name: "file input with userinfo", csvHeader: "prompt,init_image", csvRow: "a,https://u:p@img.example.com/x.png", jsonl: `{"prompt":"a","init_image":"https://u:p@img.example.com/x.png"}`,
			field: "init_image", is: manifest.ErrInvalidURL, msg: `"https://REDACTED@img.example.com/x.png" holds a user name or password; the API fetches the image without credentials, so they cannot work: use a public or pre-signed https URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, f := range []struct {
				name, content, msg string
				is                 error
			}{
				{"m.csv", tt.csvHeader + "\n" + tt.csvRow + "\n", tt.msg, tt.is},
				{"m.jsonl", tt.jsonl + "\n", cmp(tt.jsonlMsg, tt.msg), cmpErr(tt.jsonlIs, tt.is)},
			} {
				rows, errs := readWith(t, s, f.name, f.content)
				assert.Empty(t, rows, f.name)
				require.Len(t, errs, 1, "%s: %v", f.name, errs)
				line := 2
				if f.name == "m.jsonl" {
					line = 1
				}
				assert.Equal(t, f.name, errs[0].File)
				assert.Equal(t, line, errs[0].Line, f.name)
				assert.Equal(t, tt.field, errs[0].Field, f.name)
				assert.ErrorIs(t, errs[0], f.is, f.name)
				assert.Equal(t, f.name+":"+itoa(line)+": field "+tt.field+": "+f.msg, errs[0].Error())
			}
		})
	}
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// TestSchemaAllErrorsAtOnce: Validate reports every problem of every row,
// and nothing is valid.
func TestSchemaAllErrorsAtOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.csv")
	require.NoError(t, os.WriteFile(path, []byte("prompt,steps,tiling\n,0,maybe\nok,3,true\nok,x,false\n"), 0o644))
	n := 0
	_, err := manifest.ValidateConfig(context.Background(), path, manifest.Config{Schema: compileT2I(t)}, func(manifest.Row) error { n++; return nil })
	var ve *manifest.ValidationError
	require.ErrorAs(t, err, &ve)
	var got []string
	for _, e := range ve.Errors {
		got = append(got, itoa(e.Line)+" "+e.Field)
	}
	assert.Equal(t, []string{"2 prompt", "2 steps", "2 tiling", "4 steps"}, got)
	assert.Equal(t, 1, n, "the valid row is staged, the caller submits nothing on errors")
}

// TestSchemaHeader: a required field without a column, and an unknown
// column, are header errors naming the column, with a did-you-mean.
func TestSchemaHeader(t *testing.T) {
	t.Parallel()
	s := compileT2I(t)
	_, errs := readWith(t, s, "m.csv", "steps\n3\n")
	require.Len(t, errs, 1)
	assert.Equal(t, "m.csv:1: field prompt: no such column; the model requires it", errs[0].Error())
	assert.ErrorIs(t, errs[0], manifest.ErrRequired)

	_, errs = readWith(t, s, "m.csv", "prompt,stpes\na,3\n")
	require.Len(t, errs, 1)
	assert.Equal(t, `m.csv:1: field stpes: unknown column "stpes"; did you mean "steps"? (names are case-sensitive)`, errs[0].Error())

	_, errs = readWith(t, s, "m.jsonl", `{"prompt":"a","guidnace":1}`+"\n")
	require.Len(t, errs, 1)
	assert.Equal(t, `m.jsonl:1: field guidnace: unknown key "guidnace"; did you mean "guidance"? (names are case-sensitive)`, errs[0].Error())
}

// TestSchemaFileFields: file inputs follow the schema's format "uri" and
// the names models give them.
func TestSchemaFileFields(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"init_image"}, compileT2I(t).FileFields())
	assert.Equal(t, []string{"image"}, manifest.PikaSchema().FileFields())
	s, err := manifest.CompileSchema("v", []byte(`{"type":"object","properties":{
		"video_url":{"type":"string"},"audio_url":{"type":"string"},"image_url":{"type":"string"},
		"prompt":{"type":"string"},"count":{"type":"integer"}}}`))
	require.NoError(t, err)
	assert.Equal(t, []string{"video_url", "audio_url", "image_url"}, s.FileFields())
}

// TestPikaSchemaIsTodaysRules: the built-in schema holds the bounds the
// package's constants document.
func TestPikaSchemaIsTodaysRules(t *testing.T) {
	t.Parallel()
	s := manifest.PikaSchema()
	assert.Equal(t, manifest.PikaModel, s.Name())
	assert.Equal(t, []string{"image", "promptText", "negativePrompt", "seed", "resolution", "duration"}, s.Fields())
	assert.Equal(t, map[string]string{"image_url": "image", "prompt": "promptText", "negative_prompt": "negativePrompt"}, s.Aliases())
	d, ok := s.Default("resolution")
	assert.True(t, ok)
	assert.Equal(t, manifest.DefaultResolution, d)
	d, _ = s.Default("duration")
	assert.Equal(t, int64(manifest.DefaultDuration), d)
	var doc struct {
		Properties map[string]struct {
			MaxLength int `json:"maxLength"`
		} `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(s.Raw(), &doc))
	assert.Equal(t, manifest.MaxPromptRunes, doc.Properties["promptText"].MaxLength)
	assert.Equal(t, manifest.MaxNegativePromptRunes, doc.Properties["negativePrompt"].MaxLength)
	b, ok := manifest.BuiltinSchema(manifest.PikaModel)
	require.True(t, ok)
	assert.True(t, b.IsPika())
	_, ok = manifest.BuiltinSchema("acme/other")
	assert.False(t, ok)
}

// TestCompileSchemaRefuses: documents that are no usable input schema.
func TestCompileSchemaRefuses(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"not JSON":        `{`,
		"invalid keyword": `{"type":"object","properties":{"a":{"type":"strng"}}}`,
		"not an object":   `{"type":"array","items":{}}`,
		"no properties":   `{"type":"object"}`,
		"remote ref":      `{"type":"object","properties":{"a":{"$ref":"https://example.com/s.json"}}}`,
		"an id property":  `{"type":"object","properties":{"id":{"type":"string"}}}`,
	} {
		_, err := manifest.CompileSchema(name, []byte(doc))
		assert.ErrorIs(t, err, manifest.ErrInvalidSchema, name)
	}
}

// TestSchemaLibraryChecksTheRest: keywords the fast checks do not cover
// (here if/then and items) are checked by the library, each error naming
// the field by its instance location.
func TestSchemaLibraryChecksTheRest(t *testing.T) {
	t.Parallel()
	s, err := manifest.CompileSchema("rest", []byte(`{"type":"object","properties":{
		"mode":{"type":"string","enum":["fast","hq"]},
		"steps":{"type":"integer"},
		"tags":{"type":"array","items":{"type":"string"},"maxItems":2}},
		"if":{"properties":{"mode":{"const":"hq"}},"required":["mode"]},
		"then":{"required":["steps"]}}`))
	require.NoError(t, err)
	rows, errs := readWith(t, s, "m.jsonl", `{"mode":"hq"}`+"\n"+`{"mode":"fast","tags":["a",1]}`+"\n"+`{"mode":"hq","steps":3,"tags":["a"]}`+"\n")
	require.Len(t, rows, 1)
	require.Len(t, errs, 2, "%v", errs)
	assert.Equal(t, "m.jsonl:1: field steps: missing; the model requires it", errs[0].Error())
	assert.ErrorIs(t, errs[0], manifest.ErrRequired)
	assert.Equal(t, 2, errs[1].Line)
	assert.Equal(t, "tags", errs[1].Field)
	assert.ErrorIs(t, errs[1], manifest.ErrInvalidType)
}

// TestSchemaAgreesWithLibrary holds the fast checks to the library: for
// rows of every kind, a row the manifest accepts is one the compiled schema
// accepts, and a row it rejects for a schema keyword the library rejects
// too.
func TestSchemaAgreesWithLibrary(t *testing.T) {
	t.Parallel()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(t2iSchema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("t2i.json", doc))
	lib, err := c.Compile("t2i.json")
	require.NoError(t, err)
	s := compileT2I(t)
	values := map[string][]string{
		"prompt":   {`"a"`, `""`, `"` + strings.Repeat("x", 20) + `"`, `"` + strings.Repeat("x", 21) + `"`},
		"steps":    {`1`, `0`, `50`, `51`, `-3`},
		"guidance": {`0`, `0.001`, `20`, `20.0001`, `7.5`, `1e1`},
		"tiling":   {`true`, `false`},
		"size":     {`"512x512"`, `"1024x1024"`, `"1x1"`},
		"style":    {`"abc"`, `"Abc"`, `"a1"`},
	}
	for field, vs := range values {
		for _, v := range vs {
			line := `{"prompt":"p","` + field + `":` + v + `}`
			if field == "prompt" {
				line = `{"prompt":` + v + `}`
			}
			rows, errs := readWith(t, s, "m.jsonl", line+"\n")
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(line))
			require.NoError(t, err)
			libErr := lib.Validate(inst)
			if v == `""` {
				// Blank means "not set" in a manifest: the required prompt is missing.
				assert.Len(t, errs, 1, line)
				continue
			}
			assert.Equal(t, libErr == nil, len(rows) == 1, "%s: library says %v, manifest %v", line, libErr, errs)
		}
	}
}

// TestInputNumbers: numbers that are not integers hash in ES6 / RFC 8785
// form, and read back from a body as they were.
func TestInputNumbers(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{
		0.5: "0.5", 1e21: "1e+21", 1.5e-7: "1.5e-7", 123456.789: "123456.789", -2.25: "-2.25", 5.0: "5", 1e20: "100000000000000000000",
	} {
		in := manifest.NewInput(manifest.Field{Name: "x", Value: v})
		var h bytes.Buffer
		h.WriteString(`{"x":` + want + `}`)
		other := manifest.Input{}
		require.NoError(t, json.Unmarshal(h.Bytes(), &other))
		assert.Equal(t, in.Hash(), other.Hash(), "%v as %s", v, want)
		assert.Equal(t, want, in.Text("x"))
	}
}

// FuzzSchemaRows: any row the manifest accepts for a schema of every type
// is one the schema library accepts too, in CSV and JSONL.
func FuzzSchemaRows(f *testing.F) {
	f.Add("prompt,steps,guidance,tiling,size\na,3,1.5,true,512x512\n", `{"prompt":"a","steps":3,"loras":[1],"extra":{}}`)
	f.Add("prompt,loras,extra\nx,\"[1,2]\",\"{}\"\n", `{"prompt":"b","guidance":1e1,"tiling":false,"style":"ab"}`)
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(t2iSchema))
	require.NoError(f, err)
	c := jsonschema.NewCompiler()
	require.NoError(f, c.AddResource("t2i.json", doc))
	lib, err := c.Compile("t2i.json")
	require.NoError(f, err)
	s := compileT2I(f)
	f.Fuzz(func(t *testing.T, csv, jsonl string) {
		for name, content := range map[string]string{"m.csv": csv, "m.jsonl": jsonl} {
			r, err := manifest.NewReaderConfig(strings.NewReader(content), name, manifest.Config{Schema: s})
			if err != nil {
				continue
			}
			for range len(content) + 2 {
				row, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					continue
				}
				body, err := json.Marshal(row.Input)
				require.NoError(t, err)
				inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
				require.NoError(t, err, "%s", body)
				require.NoError(t, lib.Validate(inst), "%s: %s", name, body)
				var back manifest.Input
				require.NoError(t, json.Unmarshal(body, &back))
				require.Equal(t, row.Input.Hash(), back.Hash())
			}
		}
	})
}
