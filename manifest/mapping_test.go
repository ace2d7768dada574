package manifest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

// TestMapSourceMissing: a mapping whose column (or key) the manifest lacks
// is an error with a did-you-mean, also when every other column is kept:
// a typo in --map must not send every row without the field it maps.
func TestMapSourceMissing(t *testing.T) {
	t.Parallel()
	cfg := manifest.Config{Map: map[string]string{"promptText": "captoin"}, Keep: []string{"*"}}
	t.Run("csv", func(t *testing.T) {
		t.Parallel()
		rows, errs, err := readCfg(t, cfg, "m.csv", "image,caption\nhttps://img.example.com/a.png,a cat\n")
		require.Error(t, err, "rows %v errs %v", rows, errs)
		var ve *manifest.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Len(t, ve.Errors, 1)
		got := ve.Errors[0]
		assert.Equal(t, 1, got.Line)
		assert.Equal(t, "promptText", got.Field)
		assert.ErrorIs(t, got, manifest.ErrBadMapping)
		assert.ErrorIs(t, got, manifest.ErrBadHeader)
		assert.Equal(t, `m.csv:1: field promptText: map promptText=captoin: the manifest has no column "captoin"; did you mean "caption"?`, got.Error())
	})
	t.Run("jsonl", func(t *testing.T) {
		t.Parallel()
		rows, errs, err := readCfg(t, cfg, "m.jsonl",
			`{"image":"https://img.example.com/a.png","caption":"a cat"}`+"\n"+
				`{"image":"https://img.example.com/b.png","caption":"a dog"}`+"\n")
		require.NoError(t, err)
		assert.Len(t, rows, 2, "rows come as read; the check is at the end, before any run")
		require.Len(t, errs, 1)
		assert.Equal(t, 0, errs[0].Line)
		assert.Equal(t, "promptText", errs[0].Field)
		assert.ErrorIs(t, errs[0], manifest.ErrBadMapping)
		assert.Equal(t, `m.jsonl: field promptText: map promptText=captoin: no line of the manifest has the key "captoin"; did you mean "caption"?`, errs[0].Error())
	})
	t.Run("jsonl key on some lines", func(t *testing.T) {
		t.Parallel()
		rows, errs, err := readCfg(t, cfg, "m.jsonl",
			`{"image":"https://img.example.com/a.png"}`+"\n"+
				`{"image":"https://img.example.com/b.png","captoin":"a dog"}`+"\n")
		require.NoError(t, err)
		assert.Empty(t, errs, "an optional field may be missing from some lines")
		require.Len(t, rows, 2)
		assert.Equal(t, "a dog", rows[1].Input.Text("promptText"))
	})
	t.Run("validate", func(t *testing.T) {
		t.Parallel()
		path := writeManifest(t, "m.jsonl", `{"image":"https://img.example.com/a.png","caption":"a cat"}`+"\n")
		cfg := cfg
		cfg.Format = manifest.FormatAuto
		_, err := manifest.ValidateConfig(t.Context(), path, cfg, nil)
		require.ErrorIs(t, err, manifest.ErrBadMapping)
	})
}
