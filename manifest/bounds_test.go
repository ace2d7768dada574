package manifest_test

import (
	"encoding/json"
	"io"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

// TestReaderBounds: a row the API would refuse (a 2–10 MB negativePrompt
// drew a 413 that stopped every submit) is refused here, with
// every problem of the row named by line and field at once.
func TestReaderBounds(t *testing.T) {
	t.Parallel()
	// amps is an image URL whose JSON encoding is six times its length:
	// encoding/json writes '&' as \u0026.
	amps := "https://img.example.com/a.png?" + strings.Repeat("&", manifest.MaxImageURLBytes-30)
	require.Len(t, amps, manifest.MaxImageURLBytes)

	runReaderCases(t, "m.csv", []readerCase{
		{
			name:    "negativePrompt of 2000 characters",
			content: "image,negativePrompt\n" + img + "," + strings.Repeat("é", 2000) + "\n",
			rows:    []wantRow{{line: 2, input: manifest.PikaFields{Image: img, NegativePrompt: strings.Repeat("é", 2000)}.Input()}},
		},
		{
			name:    "negativePrompt of 2001 characters",
			content: "image,negative_prompt\n" + img + "," + strings.Repeat("é", 2001) + "\n",
			errs: []wantErr{{line: 2, field: "negative_prompt", is: manifest.ErrTooLong,
				msg: "m.csv:2: field negative_prompt: is 2001 characters long; the limit is 2000"}},
		},
		{
			name:    "image URL at the limit",
			content: "image\n" + amps + "\n",
			rows:    []wantRow{{line: 2, input: manifest.PikaFields{Image: amps}.Input()}},
		},
		{
			name:    "image URL over the limit",
			content: "image\n" + amps + "&\n",
			errs: []wantErr{{line: 2, field: "image", is: manifest.ErrTooLong,
				msg: "m.csv:2: field image: the URL is 8001 bytes long; the limit is 8000"}},
		},
		{
			name: "every problem of a row at once",
			content: "id,image,prompt,negativePrompt\n" +
				"a,http://img.example.com/a.png," + strings.Repeat("p", 2001) + "," + strings.Repeat("n", 3000) + "\n",
			errs: []wantErr{
				{line: 2, field: "image", is: manifest.ErrInvalidURL},
				{line: 2, field: "prompt", is: manifest.ErrTooLong},
				{line: 2, field: "negativePrompt", is: manifest.ErrTooLong},
			},
		},
		{
			name: "request body over the limit",
			content: "image,prompt,negativePrompt\n" + amps + "," + strings.Repeat("<", 2000) + "," +
				strings.Repeat(">", 2000) + "\n",
			errs: []wantErr{{line: 2, field: "", is: manifest.ErrTooLong,
				msg: "m.csv:2: the request body would be 71898 bytes of JSON; the limit is 65536 (shorten the image URL or the prompts)"}},
		},
	})
}

// TestBodyLimitMatchesJSON: the body size checked is the size of the body
// the runner sends (json.Marshal of the Input), byte for byte.
func TestBodyLimitMatchesJSON(t *testing.T) {
	t.Parallel()
	base := "https://img.example.com/a.png?"
	for _, tc := range []struct {
		name  string
		image string
		text  string
		ok    bool
	}{
		{"just under", base + strings.Repeat("&", 6900), strings.Repeat("<", 2000), true},
		{"just over", base + strings.Repeat("&", 7970), strings.Repeat("\x01", 200) + strings.Repeat("\u2028", 1600) + strings.Repeat("\x01", 200), false},
		{"escapes of every kind", base + "a%22b", "\"\\\b\f\n\r\t\x00\x1f\x7f<>&\u2028\u2029é😀", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			content, err := json.Marshal(map[string]string{"image": tc.image, "promptText": tc.text, "negativePrompt": tc.text})
			require.NoError(t, err)
			rows, errs := collect(t, "m.jsonl", string(content)+"\n")
			in := manifest.PikaFields{Image: tc.image, PromptText: tc.text, NegativePrompt: tc.text}.Input()
			body, err := json.Marshal(in)
			require.NoError(t, err)
			assert.Equal(t, tc.ok, len(body) <= manifest.MaxBodyBytes, "the case is on the side it claims (%d bytes)", len(body))
			if tc.ok {
				assert.Empty(t, errs)
				require.Len(t, rows, 1)
				return
			}
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], manifest.ErrTooLong)
			assert.Contains(t, errs[0].Error(), "would be "+itoa(len(body))+" bytes")
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// repeatReader yields n bytes of b repeated, without holding them.
type repeatReader struct {
	b byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n)
	for i := range p[:n] {
		p[i] = r.b
	}
	r.n -= n
	return n, nil
}

// TestHugeRowIsOneErrorInBoundedMemory: a 10 MB line is one error naming
// its line, read through without being held. Not parallel, so that the
// allocation count is this test's own.
func TestHugeRowIsOneErrorInBoundedMemory(t *testing.T) {
	const huge = 10 << 20
	for _, tc := range []struct {
		name   string
		before string
		after  string
		rows   int
		line   int
	}{
		{"JSONL", `{"image":"` + img + `"}` + "\n" + `{"image":"` + img + `","negativePrompt":"`,
			`"}` + "\n" + `{"image":"` + img + `","seed":2}` + "\n", 2, 2},
		{"CSV", "image,negativePrompt\n" + img + ",a\n" + img + ",", "\n" + img + ",b\n", 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "m." + strings.ToLower(tc.name)
			src := io.MultiReader(strings.NewReader(tc.before), &repeatReader{b: 'x', n: huge}, strings.NewReader(tc.after))
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc

			r, err := manifest.NewReader(src, name, manifest.FormatAuto)
			require.NoError(t, err)
			var rows int
			var errs []error
			for {
				_, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				rows++
			}
			runtime.ReadMemStats(&ms)
			allocated := ms.TotalAlloc - before

			require.Len(t, errs, 1, "one error for the huge row: %v", errs)
			var re *manifest.RowError
			require.ErrorAs(t, errs[0], &re)
			assert.Equal(t, tc.line, re.Line)
			assert.ErrorIs(t, re, manifest.ErrTooLong)
			assert.Regexp(t, regexp.MustCompile(`^`+regexp.QuoteMeta(name)+`:[0-9]+: `), re.Error())
			assert.Equal(t, tc.rows, rows)
			assert.Less(t, allocated, uint64(4<<20), "the 10 MB row is not held in memory (%d bytes allocated)", allocated)
		})
	}
}

// TestImageMustBeHTTPS: the API fetches images over https only; http is
// for rehearsals against a loopback host.
func TestImageMustBeHTTPS(t *testing.T) {
	t.Parallel()
	good := []string{
		"https://img.example.com/a.png",
		"HTTPS://img.example.com/a.png",
		"http://localhost/a.png",
		"http://LOCALHOST:8080/a.png",
		"http://127.0.0.1:8787/a.png",
		"http://127.9.8.7/a.png",
		"http://[::1]:8080/a.png",
	}
	bad := []string{
		"http://img.example.com/a.png",
		"http://10.0.0.1/a.png",
		"http://[::2]/a.png",
		"http://localhost.example.com/a.png",
		"http://128.0.0.1/a.png",
	}
	content := "image\n" + strings.Join(good, "\n") + "\n" + strings.Join(bad, "\n") + "\n"
	rows, errs := collect(t, "m.csv", content)
	assert.Len(t, rows, len(good))
	require.Len(t, errs, len(bad))
	for i, e := range errs {
		assert.Equal(t, len(good)+2+i, e.Line)
		assert.Equal(t, "image", e.Field)
		assert.ErrorIs(t, e, manifest.ErrInvalidURL)
		assert.Contains(t, e.Error(), "https", "%v", e)
	}
	assert.Equal(t, `m.csv:9: field image: "http://img.example.com/a.png" is not https; the API fetches images over https only (http is accepted only for a loopback host, for rehearsals)`, errs[0].Error())
}

// TestImageUserinfo: credentials in an image URL are refused, since the
// API's unauthenticated GET never sends them, and never printed.
func TestImageUserinfo(t *testing.T) {
	t.Parallel()
	rows, errs := collect(t, "m.jsonl",
		`{"image":"https://alice:s3cret@img.example.com/a.png"}`+"\n"+
			`{"image":"https://tok3n@img.example.com/a.png"}`+"\n"+
			`{"image":"ftp://bob:hunter2@img.example.com/a.png"}`+"\n"+
			`{"image":"https://carol:pa ss@img.example.com/a b.png"}`+"\n")
	assert.Empty(t, rows)
	require.Len(t, errs, 4)
	for i, e := range errs {
		assert.Equal(t, i+1, e.Line)
		assert.Equal(t, "image", e.Field)
		assert.ErrorIs(t, e, manifest.ErrInvalidURL)
		for _, secret := range []string{"s3cret", "tok3n", "hunter2", "pa ss", "alice", "bob", "carol"} {
			assert.NotContains(t, e.Error(), secret)
		}
	}
	assert.Equal(t, `m.jsonl:1: field image: "https://REDACTED@img.example.com/a.png" holds a user name or password; the API fetches the image without credentials, so they cannot work: use a public or pre-signed https URL`, errs[0].Error())
}

// TestMessagesNeutraliseControls: manifest text reaches a terminal through
// error messages; control characters in it are escaped, so that it cannot
// drive the terminal.
func TestMessagesNeutraliseControls(t *testing.T) {
	t.Parallel()
	esc := "\x1b[2J\x1b]0;pwned\x07\u009b31m\u202e"
	for name, content := range map[string]string{
		"m.csv":   "image," + esc + "x\n" + img + ",1\n",
		"m.jsonl": `{"image":"` + img + `","` + jsonEscape(esc) + `":1,"seed":"` + jsonEscape(esc) + `"}` + "\n" + `{"image":"` + jsonEscape(esc) + `"}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, errs := collect(t, name, content)
			require.NotEmpty(t, errs)
			for _, e := range errs {
				msg := e.Error()
				assert.NotRegexp(t, controls, msg)
				assert.NotRegexp(t, controls, e.Field)
			}
			assert.Contains(t, errs[0].Error(), `\x1b[2J`)
		})
	}
	var ve manifest.ValidationError
	ve.File = "a\x1b[2J.csv"
	assert.NotContains(t, ve.Error(), "\x1b")
}

// controls matches the characters a terminal may act on.
var controls = regexp.MustCompile(`[\x00-\x1f\x7f\x{80}-\x{9f}\x{202a}-\x{202e}\x{2066}-\x{2069}]`)

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
