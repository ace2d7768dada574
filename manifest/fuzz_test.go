package manifest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

var (
	sentinels = []error{
		manifest.ErrRequired, manifest.ErrUnknownColumn, manifest.ErrInvalidURL, manifest.ErrTooLong,
		manifest.ErrInvalidEnum, manifest.ErrInvalidInteger, manifest.ErrDuplicateID, manifest.ErrUnsafeID,
		manifest.ErrBadHeader, manifest.ErrMalformed, manifest.ErrEmpty,
	}
	keyPattern = regexp.MustCompile(`^(r-[0-9a-f]{16}(-[2-9][0-9]*)?|[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$`)
)

// checkRow asserts what every row from a Reader satisfies.
func checkRow(t *testing.T, row manifest.Row) {
	t.Helper()
	assert.Positive(t, row.Line)
	assert.Regexp(t, keyPattern, row.Key)
	if row.ID != "" {
		assert.Equal(t, row.ID, row.Key)
		assert.False(t, strings.HasSuffix(row.ID, "."), "id %q", row.ID)
	}
	in := struct{ Image, PromptText, NegativePrompt, Resolution string }{row.Input.Text("image"),
		row.Input.Text("promptText"), row.Input.Text("negativePrompt"), row.Input.Text("resolution")}
	u, err := url.Parse(in.Image)
	if assert.NoError(t, err, "image %q", in.Image) {
		assert.Contains(t, []string{"http", "https"}, u.Scheme, "image %q", in.Image)
		assert.NotEmpty(t, u.Hostname(), "image %q", in.Image)
		assert.Nil(t, u.User, "image %q: no credentials", in.Image)
		if u.Scheme == "http" {
			h := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
			assert.True(t, h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1" || strings.HasPrefix(h, "::ffff:127."),
				"image %q: http only for a loopback host", in.Image)
		}
	}
	assert.LessOrEqual(t, len(in.Image), manifest.MaxImageURLBytes)
	assert.LessOrEqual(t, utf8.RuneCountInString(in.NegativePrompt), manifest.MaxNegativePromptRunes)
	for _, s := range []string{row.ID, in.Image, in.PromptText, in.NegativePrompt, in.Resolution} {
		assert.True(t, utf8.ValidString(s), "%q", s)
		assert.Equal(t, strings.TrimSpace(s), s)
	}
	assert.LessOrEqual(t, utf8.RuneCountInString(in.PromptText), manifest.MaxPromptRunes)
	assert.Contains(t, []string{"", "720p", "1080p"}, in.Resolution)
	if d, ok := row.Input.Lookup("duration"); ok {
		assert.Contains(t, []any{int64(5), int64(10)}, d)
	}
	if s, ok := row.Input.Lookup("seed"); ok {
		assert.IsType(t, int64(0), s)
	}
	body, err := json.Marshal(row.Input)
	assert.NoError(t, err)
	assert.LessOrEqual(t, len(body), manifest.MaxBodyBytes)
}

// checkManifestError asserts that err describes the manifest, with each
// problem naming the file and wrapping a sentinel.
func checkManifestError(t *testing.T, name string, err error) {
	t.Helper()
	var ve *manifest.ValidationError
	var re *manifest.RowError
	var res []*manifest.RowError
	switch {
	case errors.As(err, &ve):
		require.NotEmpty(t, ve.Errors)
		res = ve.Errors
	case errors.As(err, &re):
		res = []*manifest.RowError{re}
	default:
		t.Fatalf("error is neither a RowError nor a ValidationError: %v", err)
	}
	for _, re := range res {
		assert.Equal(t, name, re.File)
		assert.GreaterOrEqual(t, re.Line, 0)
		assert.NotEmpty(t, re.Error())
		assert.NotRegexp(t, controls, re.Error(), "messages are safe to print")
		found := false
		for _, s := range sentinels {
			found = found || errors.Is(re, s)
		}
		assert.True(t, found, "%v wraps no sentinel", re)
	}
}

// checkStream reads a whole manifest and checks every row and error.
func checkStream(t *testing.T, name string, data []byte) {
	r, err := manifest.NewReader(bytes.NewReader(data), name, manifest.FormatAuto)
	if err != nil {
		checkManifestError(t, name, err)
		return
	}
	defer func() { assert.NoError(t, r.Close()) }()
	keys := map[string]bool{}
	// Every call consumes input, so there are at most len(data) rows plus
	// the final "no rows" error.
	for range len(data) + 2 {
		row, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			checkManifestError(t, name, err)
			continue
		}
		checkRow(t, row)
		k := strings.ToLower(row.Key)
		assert.False(t, keys[k], "key %q returned twice", row.Key)
		keys[k] = true
	}
	t.Fatal("Next did not reach io.EOF")
}

func addCorpus(f *testing.F, ext string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join(corpusDir, "*"+ext))
	require.NoError(f, err)
	require.NotEmpty(f, paths)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(data)
	}
}

func FuzzCSV(f *testing.F) {
	addCorpus(f, ".csv")
	f.Add([]byte("image\n\"" + img + "\n"))
	f.Add([]byte("id,image\nr-0123456789abcdef," + img + "\n," + img + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, "fuzz.csv", data)
	})
}

func FuzzJSONL(f *testing.F) {
	addCorpus(f, ".jsonl")
	f.Add([]byte(`{"image":"` + img + `","seed":-0}` + "\n" + `{"image":"` + img + `","id":1e2}`))
	f.Add([]byte(`{"image":"` + img + `","promptText":"\ud800"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, "fuzz.jsonl", data)
	})
}
