package manifest_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

// wideSchema is a schema of n string properties, each with a pattern when
// patterns is set: the shape of a hostile or generated catalog entry.
func wideSchema(n int, patterns bool) []byte {
	var b strings.Builder
	b.WriteString(`{"type":"object","properties":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"p` + strconv.Itoa(i) + `":{"type":"string"`)
		if patterns {
			b.WriteString(`,"pattern":"^[a-z]+` + strconv.Itoa(i) + `$"`)
		}
		b.WriteByte('}')
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

// wideRow is a CSV manifest of one row setting every property.
func wideRow(n int) string {
	var h, r strings.Builder
	for i := range n {
		if i > 0 {
			h.WriteByte(',')
			r.WriteByte(',')
		}
		h.WriteString("p" + strconv.Itoa(i))
		r.WriteString("a" + strconv.Itoa(i))
	}
	return h.String() + "\n" + r.String() + "\n"
}

// wideSizes are the property counts the wide-schema benchmarks run at, up
// to the bound: far enough apart to show the growth.
var wideSizes = []int{125, 250, 500, 1000}

// BenchmarkWideSchemaCompile compiles a schema of many properties, each
// with a pattern. Run with -benchtime=1x.
func BenchmarkWideSchemaCompile(b *testing.B) {
	for _, n := range wideSizes {
		raw := wideSchema(n, true)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := manifest.CompileSchema("wide.json", raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWideSchemaRefused is the cost of a schema of 40,000
// properties with a pattern each: refused before the library compiles it.
func BenchmarkWideSchemaRefused(b *testing.B) {
	raw := wideSchema(40_000, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := manifest.CompileSchema("wide.json", raw); err == nil {
			b.Fatal("a schema of 40,000 properties compiled")
		}
	}
}

// BenchmarkWideSchemaRow reads one row without id that sets every
// property of a wide schema, and exports it: the cost per row must grow
// linearly with the number of properties. Run with -benchtime=1x.
func BenchmarkWideSchemaRow(b *testing.B) {
	for _, n := range wideSizes {
		s, err := manifest.CompileSchema("wide.json", wideSchema(n, false))
		if err != nil {
			b.Fatal(err)
		}
		content := wideRow(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, err := manifest.NewReaderConfig(strings.NewReader(content), "m.csv", manifest.Config{Schema: s})
				if err != nil {
					b.Fatal(err)
				}
				row, err := r.Next()
				if err != nil {
					b.Fatal(err)
				}
				body, err := json.Marshal(row.Input)
				if err != nil {
					b.Fatal(err)
				}
				var back manifest.Input // as an export reads a recorded body
				if err := json.Unmarshal(body, &back); err != nil {
					b.Fatal(err)
				}
				back.EachText(func(string, string) {}) // as an export writes it
			}
		})
	}
}

// TestWideSchemaIsBounded: a schema of more properties than any model's
// input has is refused with a clear error before it is compiled, wherever
// the properties sit (the root, or a definition the root refers to); one
// at the bound compiles.
func TestWideSchemaIsBounded(t *testing.T) {
	t.Parallel()
	_, err := manifest.CompileSchema("wide.json", wideSchema(manifest.MaxSchemaProperties+1, true))
	require.ErrorIs(t, err, manifest.ErrInvalidSchema)
	assert.ErrorContains(t, err, "1001 properties")
	assert.ErrorContains(t, err, "at most 1000")

	nested := `{"$ref":"#/$defs/in","$defs":{"in":` + string(wideSchema(manifest.MaxSchemaProperties+1, false)) + `}}`
	_, err = manifest.CompileSchema("nested.json", []byte(nested))
	require.ErrorIs(t, err, manifest.ErrInvalidSchema)

	s, err := manifest.CompileSchema("wide.json", wideSchema(manifest.MaxSchemaProperties, true))
	require.NoError(t, err)
	assert.Len(t, s.Fields(), manifest.MaxSchemaProperties)
}
