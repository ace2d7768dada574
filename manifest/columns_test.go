package manifest_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

func readCfg(t *testing.T, cfg manifest.Config, name, content string) ([]manifest.Row, []*manifest.RowError, error) {
	t.Helper()
	r, err := manifest.NewReaderConfig(strings.NewReader(content), name, cfg)
	if err != nil {
		return nil, nil, err
	}
	var rows []manifest.Row
	var errs []*manifest.RowError
	for {
		row, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return rows, errs, nil
			}
			errs = append(errs, rowErrors(t, err)...)
			continue
		}
		rows = append(rows, row)
	}
}

// TestMapAndKeep: a dataset's columns are mapped onto the model's fields,
// other columns are kept verbatim, in CSV and JSONL alike; the mapped row
// has the key and hash of the same row written with the model's names.
func TestMapAndKeep(t *testing.T) {
	t.Parallel()
	cfg := manifest.Config{Map: map[string]string{"promptText": "caption", "image": "url", "id": "uid"},
		Keep: []string{"license", "meta"}}
	plain := "id,image,promptText\nclip1,https://img.example.com/a.png,a cat\n"
	for name, content := range map[string]string{
		"m.csv":   "uid,url,caption,license,meta\nclip1,https://img.example.com/a.png,a cat, CC-BY ,\"{\"\"w\"\":1}\"\n",
		"m.jsonl": `{"uid":"clip1","url":"https://img.example.com/a.png","caption":"a cat","license":" CC-BY ","meta":{"w":1}}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rows, errs, err := readCfg(t, cfg, name, content)
			require.NoError(t, err)
			require.Empty(t, errs)
			require.Len(t, rows, 1)
			want, _, err := readCfg(t, manifest.Config{}, "p.csv", plain)
			require.NoError(t, err)
			assert.Equal(t, want[0].Key, rows[0].Key)
			assert.Equal(t, want[0].Input.Hash(), rows[0].Input.Hash(), "kept columns are no part of the hash")
			if name == "m.csv" {
				assert.JSONEq(t, `{"license":" CC-BY ","meta":"{\"w\":1}"}`, string(rows[0].Kept), "CSV cells kept verbatim, as text")
			} else {
				assert.JSONEq(t, `{"license":" CC-BY ","meta":{"w":1}}`, string(rows[0].Kept), "JSONL values kept as written")
			}
		})
	}
}

func TestKeepAll(t *testing.T) {
	t.Parallel()
	rows, errs, err := readCfg(t, manifest.Config{Keep: []string{"*"}}, "m.csv",
		"image,caption_id,source\nhttps://img.example.com/a.png,17,web\n")
	require.NoError(t, err)
	require.Empty(t, errs)
	require.Len(t, rows, 1)
	assert.Equal(t, `{"caption_id":"17","source":"web"}`, string(rows[0].Kept))
}

// TestUnknownColumnWithMap: a column neither mapped nor kept is still an
// error, with a did-you-mean that knows the mapped names.
func TestUnknownColumnWithMap(t *testing.T) {
	t.Parallel()
	cfg := manifest.Config{Map: map[string]string{"promptText": "caption"}}
	_, errs, err := readCfg(t, cfg, "m.jsonl", `{"image":"https://img.example.com/a.png","captoin":"x"}`+"\n")
	require.NoError(t, err)
	require.Len(t, errs, 2, "the unknown key, then the mapped key no line has")
	assert.ErrorIs(t, errs[0], manifest.ErrUnknownColumn)
	assert.Equal(t, `m.jsonl:1: field captoin: unknown key "captoin"; did you mean "caption"? (names are case-sensitive)`, errs[0].Error())
	assert.ErrorIs(t, errs[1], manifest.ErrBadMapping)

	_, _, err = readCfg(t, manifest.Config{Map: map[string]string{"image": "url"}}, "m.csv", "caption\nx\n")
	assert.ErrorIs(t, err, manifest.ErrUnknownColumn)
	assert.ErrorContains(t, err, `m.csv:1: field caption: unknown column "caption"; known names are id, image, promptText, negativePrompt, seed, resolution, duration, image_url, prompt, negative_prompt, url`)
}

func TestMapRefuses(t *testing.T) {
	t.Parallel()
	for name, m := range map[string]map[string]string{
		"unknown field":   {"promtText": "caption"},
		"column twice":    {"promptText": "c", "negativePrompt": "c"},
		"no column named": {"promptText": ""},
	} {
		_, _, err := readCfg(t, manifest.Config{Map: m}, "m.csv", "image\nhttps://img.example.com/a.png\n")
		assert.ErrorIs(t, err, manifest.ErrBadMapping, name)
	}
	_, _, err := readCfg(t, manifest.Config{Map: map[string]string{"promtText": "caption"}}, "m.csv", "image\nx\n")
	assert.ErrorContains(t, err, `did you mean "promptText"?`)
}

func TestKeptBounded(t *testing.T) {
	t.Parallel()
	_, errs, err := readCfg(t, manifest.Config{Keep: []string{"note"}}, "m.csv",
		"image,note\nhttps://img.example.com/a.png,"+strings.Repeat("x", manifest.MaxKeptBytes)+"\n")
	require.NoError(t, err)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], manifest.ErrTooLong)
	assert.Equal(t, 2, errs[0].Line)
}

// rowErrors unpacks what Next returns for an invalid row.
func rowErrors(t *testing.T, err error) []*manifest.RowError {
	t.Helper()
	var ve *manifest.ValidationError
	if errors.As(err, &ve) {
		return ve.Errors
	}
	var re *manifest.RowError
	require.ErrorAs(t, err, &re)
	return []*manifest.RowError{re}
}

func TestKeptGivenTwice(t *testing.T) {
	t.Parallel()
	cfg := manifest.Config{Keep: []string{"*"}}
	_, _, err := readCfg(t, cfg, "m.csv", "image,note,note\nhttps://img.example.com/a.png,a,b\n")
	assert.ErrorIs(t, err, manifest.ErrBadHeader)
	assert.ErrorContains(t, err, `column "note" appears twice (columns 2 and 3)`)

	rows, errs, err := readCfg(t, cfg, "m.jsonl", `{"image":"https://img.example.com/a.png","note":"a","note":"b"}`+"\n"+
		`{"image":"https://img.example.com/b.png","note":"c"}`+"\n")
	require.NoError(t, err)
	require.Len(t, errs, 1)
	assert.Equal(t, `m.jsonl:1: field note: key "note" appears twice`, errs[0].Error())
	require.Len(t, rows, 1)
	assert.Equal(t, `{"note":"c"}`, string(rows[0].Kept))
}
