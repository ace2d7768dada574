package manifest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

// TestUnknownKeyReportedOnce: one unknown JSONL key on every line is one
// error saying on how many lines it is and how to read it, not one per
// line; other problems of those lines are still reported.
func TestUnknownKeyReportedOnce(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range 5000 {
		b.WriteString(`{"image":"https://img.example.com/a.png","caption":"x","id":"r` + itoa(i) + `"}` + "\n")
	}
	b.WriteString(`{"image":"https://img.example.com/a.png","seed":"x","id":"last"}` + "\n")
	b.WriteString(`{"image":"https://img.example.com/a.png","promt":"x","id":"promt"}` + "\n")
	path := writeManifest(t, "m.jsonl", b.String())
	_, err := manifest.ValidateConfig(t.Context(), path, manifest.Config{Format: manifest.FormatAuto}, nil)
	var ve *manifest.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, 3, ve.Total, "%v", err)
	require.Len(t, ve.Errors, 3)
	first := ve.Errors[0]
	assert.Equal(t, 1, first.Line)
	assert.Equal(t, "caption", first.Field)
	assert.ErrorIs(t, first, manifest.ErrUnknownColumn)
	assert.Contains(t, first.Error(), `unknown key "caption"`)
	assert.Contains(t, first.Error(), "on 5000 lines, from this one on")
	assert.Contains(t, first.Error(), "--map")
	assert.Contains(t, first.Error(), "--keep-columns")
	assert.Equal(t, 5001, ve.Errors[1].Line)
	assert.Equal(t, "seed", ve.Errors[1].Field)
	assert.Equal(t, 5002, ve.Errors[2].Line)
	assert.NotContains(t, ve.Errors[2].Error(), "lines", "a key on one line is told as before")
	assert.Less(t, len(err.Error()), 2000, "the whole report is a few lines")
}
