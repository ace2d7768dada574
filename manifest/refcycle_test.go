package manifest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSelfReferenceIsASchemaError: a property whose $ref names itself
// compiled, and every row that set it failed with a reference cycle, a
// row error (exit 65) for the schema's fault. It is now refused when the
// schema is compiled; a schema recursing into its values still compiles.
func TestSelfReferenceIsASchemaError(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"property": `{"type":"object","properties":{"image":{"type":"string"},"a":{"$ref":"#/properties/a"}}}`,
		"root":     `{"$ref":"#","type":"object","properties":{"image":{"type":"string"}}}`,
		"defs":     `{"type":"object","properties":{"image":{"type":"string"},"a":{"$ref":"#/$defs/b"}},"$defs":{"b":{"$ref":"#/$defs/c"},"c":{"allOf":[{"$ref":"#/$defs/b"}]}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := CompileSchema("s.json", []byte(doc))
			require.ErrorIs(t, err, ErrInvalidSchema)
			assert.Contains(t, err.Error(), "reference cycle")
		})
	}
	tree := `{"type":"object","properties":{"image":{"type":"string"},"tree":{"$ref":"#/$defs/node"}},
		"$defs":{"node":{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}}}`
	_, err := CompileSchema("tree.json", []byte(tree))
	require.NoError(t, err, "recursion into the value is no cycle")
}
