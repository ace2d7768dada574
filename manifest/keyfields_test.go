package manifest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeyFieldsFollowWhatKeysDependOn: what keys a row (names, aliases,
// types) changes KeyFields; what only accepts or refuses one does not.
func TestKeyFieldsFollowWhatKeysDependOn(t *testing.T) {
	t.Parallel()
	compile := func(props string) map[string]string {
		s, err := CompileSchema("s.json", []byte(`{"type":"object","properties":{"image":{"type":"string"},`+props+`}}`))
		require.NoError(t, err)
		return s.KeyFields()
	}
	base := compile(`"seed":{"type":"integer"}`)
	assert.Equal(t, base, compile(`"seed":{"type":"integer","maximum":9,"default":3}`))
	assert.NotEqual(t, base, compile(`"seed":{"type":"string"}`))
	assert.NotEqual(t, base, compile(`"seed":{"type":["integer","string"]}`))
	assert.NotEqual(t, base, compile(`"seed":{"type":"integer","x-pikabatch-aliases":["s"]}`))
	assert.NotEqual(t, base, compile(`"seed":{"type":"integer"},"extra":{"type":"string"}`))
	assert.Equal(t, "integer", base["seed"])
}
