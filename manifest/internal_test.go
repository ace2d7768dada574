package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testImage = "https://img.example.com/a.png"

// lookupColumn (what the header and JSONL keys accept) and known (what
// messages list) agree: canonical names first, in slot order.
func TestKnownColumnsMatchLookup(t *testing.T) {
	t.Parallel()
	s := PikaSchema()
	names := s.known()
	assert.Equal(t, []string{"id", "image", "promptText", "negativePrompt", "seed", "resolution", "duration",
		"image_url", "prompt", "negative_prompt"}, names)
	for i, name := range names {
		slot, ok := s.lookupColumn(name)
		require.True(t, ok, "%q", name)
		if i <= len(s.props) {
			assert.Equal(t, i, slot, "canonical names come first, in slot order")
			assert.Equal(t, name, s.slotName(slot))
		}
	}
}

func TestCanonicalIsJSON(t *testing.T) {
	t.Parallel()
	seed := int64(-9223372036854775808)
	tests := []struct {
		name string
		in   Input
	}{
		{"minimal", PikaFields{Image: testImage}.Input()},
		{"empty", PikaFields{}.Input()},
		{"all", PikaFields{Image: testImage, PromptText: "p", NegativePrompt: "n", Seed: &seed, Resolution: "720p", Duration: 10}.Input()},
		{"every control character", PikaFields{Image: testImage, PromptText: string([]byte{0, 1, 2, 7, 8, 9, 10, 11, 12, 13, 14, 27, 31, 32, 127})}.Input()},
		{"html and separators", PikaFields{Image: testImage, PromptText: "<a href=\"x\">&amp;</a>\u2028\u2029/\\"}.Input()},
		{"non-BMP", PikaFields{Image: testImage, NegativePrompt: "🐈‍⬛ 漢字"}.Input()},
		{"other types", NewInput(Field{"b", true}, Field{"f", 0.5}, Field{"a", []any{int64(1), "x", nil}},
			Field{"o", map[string]any{"z": false, "y": 1e21}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := tt.in.appendCanonical(nil)
			require.True(t, json.Valid(b), "%s", b)
			var back Input
			require.NoError(t, json.Unmarshal(b, &back))
			assert.Equal(t, string(b), string(back.appendCanonical(nil)), "reads back as itself")
			assert.Equal(t, tt.in.Len(), back.Len())
			assert.NotContains(t, string(b), " :", "no white space")
		})
	}

	t.Run("invalid UTF-8 becomes U+FFFD", func(t *testing.T) {
		t.Parallel()
		b := PikaFields{Image: testImage, PromptText: "a\xffb"}.Input().appendCanonical(nil)
		assert.Equal(t, `{"image":"`+testImage+`","promptText":"a`+"\ufffd"+`b"}`, string(b))
	})
}

// readAll reads every row and problem with a small row limit.
func readAll(t *testing.T, name, content string, maxRow int) (rows []Row, errs []*RowError) {
	t.Helper()
	r, err := newReader(strings.NewReader(content), name, Config{}, maxRow)
	require.NoError(t, err)
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows, errs
		}
		var re *RowError
		if err != nil {
			require.ErrorAs(t, err, &re)
			errs = append(errs, re)
			continue
		}
		rows = append(rows, row)
	}
}

func TestRowLimit(t *testing.T) {
	t.Parallel()
	const limit = 8 << 10
	// The text's own bound is in characters: \u0079 escapes fill a JSONL
	// line six bytes per character.
	row := func(text string) string {
		return `{"image":"` + testImage + `","negativePrompt":"` + text + `"}` + "\n"
	}

	t.Run("JSONL line over the limit is skipped", func(t *testing.T) {
		t.Parallel()
		content := row("a") + row(strings.Repeat("x", 5*limit)) + row("b") + row(strings.Repeat(`\u0079`, (limit-200)/6))
		rows, errs := readAll(t, "m.jsonl", content, limit)
		require.Len(t, errs, 1)
		assert.Equal(t, 2, errs[0].Line)
		assert.ErrorIs(t, errs[0], ErrMalformed)
		assert.ErrorIs(t, errs[0], ErrTooLong)
		require.Len(t, rows, 3, "reading goes on after the long line")
		assert.Equal(t, "a", rows[0].Input.Text("negativePrompt"))
		assert.Equal(t, 3, rows[1].Line)
		assert.Equal(t, "b", rows[1].Input.Text("negativePrompt"))
		assert.Equal(t, 4, rows[2].Line, "a line just under the limit is fine")
	})

	t.Run("JSONL line over the limit at the end without newline", func(t *testing.T) {
		t.Parallel()
		content := row("a") + strings.Repeat("x", 5*limit)
		rows, errs := readAll(t, "m.jsonl", content, limit)
		require.Len(t, errs, 1)
		assert.Equal(t, 2, errs[0].Line)
		assert.Len(t, rows, 1)
	})

	t.Run("JSONL lines of several MB are one error each by default", func(t *testing.T) {
		// They were accepted once, and the API's 413 stopped every
		// submit.
		t.Parallel()
		long := strings.Repeat("x", 5<<20)
		first := `{"image":"` + testImage + `","promptText":"` + long + `"}`
		content := first + "\n" + row(long) + row(strings.Repeat("x", MaxRowBytes-200)) + row("ok")
		rows, errs := readAll(t, "m.jsonl", content, MaxRowBytes)
		require.Len(t, errs, 3)
		for i, e := range errs[:2] {
			assert.Equal(t, i+1, e.Line)
			assert.Empty(t, e.Field)
			assert.ErrorIs(t, e, ErrTooLong)
			n := []int{len(first), len(row(long)) - 1}[i]
			assert.Contains(t, e.Error(), fmt.Sprintf("the line is %d bytes long; no valid row is longer than %d bytes", n, MaxRowBytes))
		}
		assert.Equal(t, 3, errs[2].Line)
		assert.Equal(t, "negativePrompt", errs[2].Field, "a line under the row limit is checked field by field")
		assert.ErrorIs(t, errs[2], ErrTooLong)
		require.Len(t, rows, 1)
		assert.Equal(t, 4, rows[0].Line)
	})

	t.Run("CSV unterminated quote stops reading", func(t *testing.T) {
		t.Parallel()
		var b strings.Builder
		b.WriteString("image,prompt\n" + testImage + ",ok\n" + testImage + ",\"never closed\n")
		for b.Len() < 10*limit {
			b.WriteString(testImage + ",more\n")
		}
		rows, errs := readAll(t, "m.csv", b.String(), limit)
		require.Len(t, rows, 1)
		require.Len(t, errs, 1)
		assert.Equal(t, 3, errs[0].Line)
		assert.ErrorIs(t, errs[0], ErrMalformed)
		assert.ErrorIs(t, errs[0], ErrTooLong)
	})

	t.Run("CSV line without end", func(t *testing.T) {
		t.Parallel()
		content := "image,prompt\n" + testImage + ",\"multi\nline\"\n" + testImage + "," + strings.Repeat("x", 10*limit)
		rows, errs := readAll(t, "m.csv", content, limit)
		require.Len(t, rows, 1)
		require.Len(t, errs, 1)
		assert.Equal(t, 4, errs[0].Line, "the line after the previous row")
	})

	t.Run("CSV header over the limit", func(t *testing.T) {
		t.Parallel()
		_, err := newReader(strings.NewReader(strings.Repeat("x", 10*limit)), "m.csv", Config{}, limit)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
		assert.ErrorIs(t, err, ErrBadHeader)
	})

	t.Run("CSV rows under the limit are fine", func(t *testing.T) {
		t.Parallel()
		var b strings.Builder
		b.WriteString("image,prompt,negativePrompt\n")
		n := 0
		quotes := `"` + strings.Repeat(`""`, MaxPromptRunes/2) + `"` // 1000 characters in 2002 bytes
		for b.Len() < 20*limit {
			b.WriteString(testImage + "," + quotes + "," + quotes + "\n")
			n++
		}
		rows, errs := readAll(t, "m.csv", b.String(), limit)
		assert.Empty(t, errs)
		assert.Len(t, rows, n)
	})
}

func TestKeyTrackerFoldsCase(t *testing.T) {
	t.Parallel()
	assert.Equal(t, foldHash("Clip-A"), foldHash("clip-a"))
	assert.NotEqual(t, foldHash("clip-a"), foldHash("clip-b"))
	var kt keyTracker
	_, _, dup := kt.claim("A", 2, true)
	require.False(t, dup)
	first, derived, dup := kt.claim("a", 9, false)
	assert.True(t, dup)
	assert.True(t, derived)
	assert.Equal(t, 2, first)
}

func TestProblemWrapsKinds(t *testing.T) {
	t.Parallel()
	p := problemf(ErrBadHeader, "msg %d", 1).also(ErrUnknownColumn)
	assert.Equal(t, "msg 1", p.Error())
	assert.ErrorIs(t, p, ErrBadHeader)
	assert.ErrorIs(t, p, ErrUnknownColumn)
	assert.False(t, errors.Is(p, ErrEmpty))
}

// members decodes the members of a JSON object with json.Decoder, as the
// reference for objectMembers.
func members(t *testing.T, b []byte) [][2]string {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	_, err := dec.Token()
	require.NoError(t, err)
	var got [][2]string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
		got = append(got, [2]string{tok.(string), string(v)})
	}
	return got
}

func FuzzObjectMembers(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { } `, `{"a":1}`, "{\"a\" :\t\"x\" ,\r\n\"b\":null}",
		`{"a\"b":"c\\","d":[1,{"e":"}]"}],"f":{"g":{"h":[]}},"i":-1.5e3,"j":true,"k":false}`,
		`{"\u0069mage":"https://x/a.png","image":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		b = bytes.TrimSpace(b)
		if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
			return
		}
		var got [][2]string
		objectMembers(b, func(key, val []byte) {
			var k string
			require.NoError(t, json.Unmarshal(key, &k))
			got = append(got, [2]string{k, string(val)})
		})
		assert.Equal(t, members(t, b), got)
	})
}

// TestRowLimitEdge: a line of exactly the limit is read, one byte more is
// too long, whatever the buffering and the line end.
func TestRowLimitEdge(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{100, 64 << 10, 70 << 10} { // under, at and over bufio's 64 KiB
		pre := `{"image":"` + testImage + `","negativePrompt":"`
		line := func(n int) string { return pre + strings.Repeat(" ", n-len(pre)-2) + `"}` }
		content := line(limit) + "\n" + line(limit+1) + "\n" + line(limit) + "\r\n" + line(limit+1) + "\r\n" + line(limit)
		rows, errs := readAll(t, "m.jsonl", content, limit)
		require.Len(t, errs, 2, "limit %d: %v", limit, errs)
		for i, e := range errs {
			assert.Equal(t, 2+2*i, e.Line)
			assert.Contains(t, e.Error(), fmt.Sprintf("the line is %d bytes long", limit+1))
		}
		require.Len(t, rows, 3)
		for i, r := range rows {
			assert.Equal(t, 1+2*i, r.Line)
		}
	}
}
