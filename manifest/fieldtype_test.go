package manifest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFieldKind(t *testing.T) {
	t.Parallel()
	s, err := CompileSchema("t.json", []byte(`{"type": "object", "properties": {
		"s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"},
		"in": {"type": ["integer", "number"]}, "b": {"type": ["boolean", "null"]},
		"a": {"type": "array"}, "m": {"type": ["string", "integer"]}, "u": {}}}`))
	require.NoError(t, err)
	want := map[string]FieldKind{"s": KindString, "i": KindInteger, "n": KindNumber, "in": KindNumber,
		"b": KindBoolean, "a": KindJSON, "m": KindJSON, "u": KindJSON}
	for name, kind := range want {
		got, ok := s.FieldKind(name)
		assert.True(t, ok, name)
		assert.Equal(t, kind, got, name)
	}
	_, ok := s.FieldKind("nope")
	assert.False(t, ok)
	k, _ := PikaSchema().FieldKind("seed")
	assert.Equal(t, KindInteger, k)
	k, _ = PikaSchema().FieldKind("image")
	assert.Equal(t, KindString, k)
}
