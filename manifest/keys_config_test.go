package manifest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

// rowKeys reads a manifest with cfg and returns each row's key and input
// hash, in order, or the errors.
func rowKeys(t *testing.T, name, body string, cfg manifest.Config) ([][2]string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	var keys [][2]string
	_, err := manifest.ValidateConfig(context.Background(), path, cfg, func(r manifest.Row) error {
		keys = append(keys, [2]string{r.Key, r.Input.Hash()})
		return nil
	})
	return keys, err
}

// The same rows keep their keys and hashes however the manifest gives
// them: CSV or JSONL, columns named as the fields or mapped to them with
// --map, with or without --keep-columns, numbers written 10 or 10.0. A
// key that moved would submit, and pay for, the row again.
func TestKeysStableAcrossReadings(t *testing.T) {
	t.Parallel()
	const u0, u1 = "https://img.example.com/0.jpg", "https://img.example.com/1.jpg"
	want, err := rowKeys(t, "m.csv", "image,promptText,duration,seed\n"+u0+",waves,10,42\n"+u1+",dunes,,\n", manifest.Config{})
	require.NoError(t, err)
	require.Len(t, want, 2)

	tests := []struct {
		name, file, body string
		cfg              manifest.Config
	}{
		{name: "columns reordered", file: "m.csv",
			body: "seed,duration,promptText,image\n42,10,waves," + u0 + "\n,,dunes," + u1 + "\n"},
		{name: "keep every other column, of which there are none", file: "m.csv",
			body: "image,promptText,duration,seed\n" + u0 + ",waves,10,42\n" + u1 + ",dunes,,\n",
			cfg:  manifest.Config{Keep: []string{"*"}}},
		{name: "kept columns", file: "m.csv",
			body: "image,promptText,duration,seed,note\n" + u0 + ",waves,10,42,a\n" + u1 + ",dunes,,,b\n",
			cfg:  manifest.Config{Keep: []string{"note"}}},
		{name: "mapped columns", file: "m.csv",
			body: "url,caption,duration,seed\n" + u0 + ",waves,10,42\n" + u1 + ",dunes,,\n",
			cfg:  manifest.Config{Map: map[string]string{"image": "url", "promptText": "caption"}}},
		{name: "jsonl", file: "m.jsonl",
			body: `{"image":"` + u0 + `","promptText":"waves","duration":10,"seed":42}` + "\n" +
				`{"image":"` + u1 + `","promptText":"dunes"}` + "\n"},
		{name: "jsonl with nulls", file: "m.jsonl",
			body: `{"image":"` + u0 + `","promptText":"waves","duration":10,"seed":42}` + "\n" +
				`{"image":"` + u1 + `","promptText":"dunes","duration":null,"seed":null}` + "\n"},
		{name: "mapped jsonl keys", file: "m.jsonl",
			body: `{"url":"` + u0 + `","promptText":"waves","duration":10,"seed":42}` + "\n" +
				`{"url":"` + u1 + `","promptText":"dunes"}` + "\n",
			cfg: manifest.Config{Map: map[string]string{"image": "url"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := rowKeys(t, tt.file, tt.body, tt.cfg)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// A JSONL string holding a number where the schema wants one ("10" for
// 10) is the same row as the number: hashed as a string it would be a
// new key, and a run of the same rows as CSV, or fixed to 10, would
// submit and pay for it again.
func TestKeysJSONLNumberAsString(t *testing.T) {
	t.Parallel()
	const u0 = "https://img.example.com/0.jpg"
	want, err := rowKeys(t, "m.jsonl", `{"image":"`+u0+`","promptText":"waves","duration":10,"seed":42}`+"\n", manifest.Config{})
	require.NoError(t, err)
	got, err := rowKeys(t, "m.jsonl", `{"image":"`+u0+`","promptText":"waves","duration":"10","seed":"42"}`+"\n", manifest.Config{})
	require.NoError(t, err, "Pika's rows read a number in a string, as before schemas")
	assert.Equal(t, want, got)
}
