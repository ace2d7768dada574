package api

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestModelFields: a model's fields come in the schema's own order,
// required ones first; a type list reads as words, and the catalog's
// "float" as "number".
func TestModelFields(t *testing.T) {
	t.Parallel()
	m := Model{InputSchema: json.RawMessage(`{"required":["image"],"properties":{
		"seed":{"type":["integer","null"],"minimum":0},
		"scale":{"type":"float","default":3.5},
		"image":{"type":"string","format":"uri"},
		"size":{"type":"string","enum":["s","m"]}}}`)}
	fields, err := m.Fields()
	require.NoError(t, err)
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	assert.Equal(t, []string{"image", "seed", "scale", "size"}, names)
	assert.True(t, fields[0].Required)
	assert.Equal(t, "integer|null", fields[1].Type)
	assert.Equal(t, "number", fields[2].Type)
	assert.JSONEq(t, `3.5`, string(fields[2].Default))
	assert.Len(t, fields[3].Enum, 2)

	none, err := Model{}.Fields()
	require.NoError(t, err)
	assert.Empty(t, none)
	_, err = Model{InputSchema: json.RawMessage(`{"properties":[1]}`)}.Fields()
	assert.Error(t, err)
}
