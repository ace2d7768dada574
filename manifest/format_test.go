package manifest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

func TestParseFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want manifest.Format
	}{
		{"", manifest.FormatAuto},
		{"auto", manifest.FormatAuto},
		{"csv", manifest.FormatCSV},
		{" CSV ", manifest.FormatCSV},
		{"jsonl", manifest.FormatJSONL},
		{"ndjson", manifest.FormatJSONL},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := manifest.ParseFormat(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	for _, in := range []string{"json", "xml", "tsv"} {
		t.Run("bad "+in, func(t *testing.T) {
			t.Parallel()
			_, err := manifest.ParseFormat(in)
			require.ErrorIs(t, err, manifest.ErrUnknownFormat)
			assert.Contains(t, err.Error(), `"`+in+`"`)
		})
	}
}

func TestFormatString(t *testing.T) {
	t.Parallel()
	for _, f := range []manifest.Format{manifest.FormatAuto, manifest.FormatCSV, manifest.FormatJSONL} {
		got, err := manifest.ParseFormat(f.String())
		require.NoError(t, err)
		assert.Equal(t, f, got)
	}
	assert.Equal(t, "Format(9)", manifest.Format(9).String())
}

func TestFormatAutoByExtension(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		wantErr error
	}{
		{"a.csv", "image\nhttps://x.example/a.png\n", nil},
		{"dir/A.CSV", "image\nhttps://x.example/a.png\n", nil},
		{"a.jsonl", `{"image":"https://x.example/a.png"}`, nil},
		{"a.ndjson", `{"image":"https://x.example/a.png"}`, nil},
		{"a.json", `{"image":"https://x.example/a.png"}`, manifest.ErrUnknownFormat},
		{"a", "image\nhttps://x.example/a.png\n", manifest.ErrUnknownFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := manifest.NewReader(strings.NewReader(tt.content), tt.name, manifest.FormatAuto)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Contains(t, err.Error(), tt.name)
				return
			}
			require.NoError(t, err)
			row, err := r.Next()
			require.NoError(t, err)
			assert.Equal(t, "https://x.example/a.png", row.Input.Text("image"))
		})
	}

	t.Run("explicit format wins", func(t *testing.T) {
		t.Parallel()
		r, err := manifest.NewReader(strings.NewReader(`{"image":"https://x.example/a.png"}`), "-", manifest.FormatJSONL)
		require.NoError(t, err)
		_, err = r.Next()
		require.NoError(t, err)
	})
}
