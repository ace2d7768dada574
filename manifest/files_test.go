package manifest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/bucket"
)

// pngHeader is the start of a PNG of w × h pixels: enough for its size to
// be read from its header, as the inline caps are.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8 bits, RGB
	_ = binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// writeFile writes p under dir at rel, padded with zeros to size bytes
// (sparse: a 40 MiB video costs no disk).
func writeFile(t *testing.T, dir, rel string, p []byte, size int64) string {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, p, 0o600))
	if size > int64(len(p)) {
		require.NoError(t, os.Truncate(path, size))
	}
	return path
}

func sha256Hex(t *testing.T, path string) string {
	t.Helper()
	p, err := os.ReadFile(path)
	require.NoError(t, err)
	s := sha256.Sum256(p)
	return hex.EncodeToString(s[:])
}

// readRows validates the manifest at path with cfg and returns its rows
// and its problems.
func readRows(t *testing.T, path string, cfg manifest.Config) ([]manifest.Row, []*manifest.RowError) {
	t.Helper()
	var rows []manifest.Row
	_, err := manifest.ValidateConfig(context.Background(), path, cfg, func(r manifest.Row) error {
		rows = append(rows, r)
		return nil
	})
	var ve *manifest.ValidationError
	if errors.As(err, &ve) {
		return rows, ve.Errors
	}
	require.NoError(t, err)
	return rows, nil
}

// TestBucketURLsAreFileInputs: an image may be an s3://, gs:// or azblob://
// object, whose key is made of the URL as written; what manifest accepts,
// runner/bucket parses.
func TestBucketURLsAreFileInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := []string{"s3://renders/in/a.png", "gs://b/k.jpg", "azblob://c/d/e.png", "S3://b/k.png?region=eu-west-1"}
	bad := map[string]string{
		"s3://b":          "names no object",
		"s3://b/dir/":     "names no object",
		"s3:///k.png":     "names no bucket",
		"s3://u:pw@b/k":   "holds credentials",
		"gs://b/k.png#x":  "fragment",
		"azblob://c/":     "names no object",
		"s3:/b/k.png":     "", // not a bucket URL at all: the https rule answers
		"s3b://b/k.png":   "",
		"ftp://b/k.png":   "",
		"https://b/k.png": "-",
	}
	var body strings.Builder
	body.WriteString("image\n")
	for _, u := range good {
		body.WriteString(u + "\n")
	}
	lines := map[int]string{}
	line := len(good) + 1
	for u := range bad {
		line++
		lines[line] = u
		body.WriteString(u + "\n")
	}
	path := writeFile(t, dir, "m.csv", []byte(body.String()), 0)
	rows, errs := readRows(t, path, manifest.Config{})

	require.Len(t, rows, len(good)+1, "every bucket URL and the https one: %v", errs)
	for i, u := range good {
		v, _ := rows[i].Input.Lookup("image")
		assert.Equal(t, u, v, "the row records the bucket URL as written")
		l, err := bucket.Parse(u)
		require.NoError(t, err, "runner/bucket reads what manifest accepts")
		assert.NotEmpty(t, l.Key)
	}
	require.Len(t, errs, len(bad)-1)
	for _, e := range errs {
		u := lines[e.Line]
		assert.ErrorIs(t, e, manifest.ErrInvalidURL, u)
		assert.NotContains(t, e.Error(), "pw", "a password is never echoed")
		if want := bad[u]; want != "" {
			assert.Contains(t, e.Error(), want, u)
		}
	}
}

// TestLocalFileRefusedWithoutAWayToSendIt: a local path, relative or
// absolute or a file: URL, is refused unless the run stages or inlines it,
// and the refusal names both flags with file, line and field.
func TestLocalFileRefusedWithoutAWayToSendIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	abs := writeFile(t, dir, "images/a.png", pngHeader(4, 4), 0)
	path := writeFile(t, dir, "m.csv", []byte("image\nimages/a.png\n"+abs+"\nfile:images/a.png\n"), 0)
	rows, errs := readRows(t, path, manifest.Config{})
	assert.Empty(t, rows)
	require.Len(t, errs, 3)
	for i, e := range errs {
		assert.Equal(t, path, e.File)
		assert.Equal(t, i+2, e.Line)
		assert.Equal(t, "image", e.Field)
		assert.ErrorIs(t, e, manifest.ErrLocalFile)
		assert.Contains(t, e.Error(), "--stage-to")
		assert.Contains(t, e.Error(), "--inline")
	}
}

// TestLocalFileKeyCoversItsDigest: a local file is recorded as its path
// and SHA-256, never its bytes; its key stays while the file does and
// changes when the file is edited; a missing file is the row's error.
func TestLocalFileKeyCoversItsDigest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	img := writeFile(t, dir, "images/a b.png", pngHeader(64, 48), 0)
	path := writeFile(t, dir, "m.csv", []byte("image,prompt\n./images/a b.png,waves\nfile:images/a%20b.png,waves\n"), 0)
	files := &manifest.LocalFiles{Send: manifest.FilesStaged}
	cfg := manifest.Config{Files: files}

	rows, errs := readRows(t, path, cfg)
	require.Empty(t, errs)
	require.Len(t, rows, 2)
	digest := sha256Hex(t, img)
	want := manifest.LocalRef{Path: "images/a b.png", SHA256: digest}
	v, _ := rows[0].Input.Lookup("image")
	assert.Equal(t, want.String(), v)
	assert.Equal(t, "file:images/a%20b.png#sha256="+digest, v)
	ref, ok := manifest.ParseLocalRef(v.(string))
	require.True(t, ok)
	assert.Equal(t, want, ref)
	assert.Equal(t, img, ref.Resolve(dir))
	assert.Equal(t, rows[0].Input.Hash(), rows[1].Input.Hash(), "a path and its file: URL are one file")
	first := rows[0].Key

	again, _ := readRows(t, path, manifest.Config{Files: &manifest.LocalFiles{Send: manifest.FilesInline}})
	require.Len(t, again, 2)
	assert.Equal(t, first, again[0].Key, "an unchanged file keeps its key, however it is sent")

	writeFile(t, dir, "images/a b.png", append(pngHeader(64, 48), 0), 0)
	edited, _ := readRows(t, path, cfg)
	require.Len(t, edited, 2)
	assert.NotEqual(t, first, edited[0].Key, "an edited file is a new row")

	require.NoError(t, os.Remove(img))
	_, errs = readRows(t, path, cfg)
	require.Len(t, errs, 2)
	assert.ErrorIs(t, errs[0], manifest.ErrLocalFile)
	assert.Contains(t, errs[0].Error(), "cannot be read")
}

func TestLocalRefRoundTrip(t *testing.T) {
	t.Parallel()
	d := strings.Repeat("ab", 32)
	for _, p := range []string{"a.png", "images/a b#1%.png", "/abs/dir/é.png", "x:y/z.png", "../up/a.png"} {
		r := manifest.LocalRef{Path: p, SHA256: d}
		got, ok := manifest.ParseLocalRef(r.String())
		assert.True(t, ok, p)
		assert.Equal(t, r, got, r.String())
	}
	for _, s := range []string{"file:a.png", "https://x/a.png#sha256=" + d, "file:a.png#sha256=XYZ", "file://host/a.png#sha256=" + d} {
		_, ok := manifest.ParseLocalRef(s)
		assert.False(t, ok, s)
	}
}

// TestInlineCaps: with --inline, files over the caps of their kind, and
// rows whose request would be over the cap with its files inline, are
// refused at validation, each naming its file, line, field and the cap.
func TestInlineCaps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	schema, err := manifest.CompileSchema("media", []byte(`{"type":"object","properties":{
		"image":{"type":"string","format":"image_uri"},
		"clip":{"type":"string","format":"video_uri"},
		"voice":{"type":"string","format":"audio_uri"}}}`))
	require.NoError(t, err)
	writeFile(t, dir, "ok.png", pngHeader(4000, 3000), 0)
	writeFile(t, dir, "big.png", pngHeader(10, 10), manifest.MaxInlineImageBytes+1)
	writeFile(t, dir, "wide.png", pngHeader(8000, 4001), 0)
	writeFile(t, dir, "notpng.png", []byte("not an image"), 0)
	writeFile(t, dir, "ok.mp4", []byte("\x00\x00\x00\x18ftypmp42"), 1<<20)
	writeFile(t, dir, "big.mp4", []byte("\x00\x00\x00\x18ftypmp42"), manifest.MaxInlineVideoBytes+1)
	writeFile(t, dir, "big.mp3", []byte("ID3"), manifest.MaxInlineAudioBytes+1)
	writeFile(t, dir, "near.png", pngHeader(10, 10), manifest.MaxInlineImageBytes-10)
	writeFile(t, dir, "near.mp4", []byte("\x00\x00\x00\x18ftypmp42"), manifest.MaxInlineVideoBytes-10)
	writeFile(t, dir, "near.mp3", []byte("ID3"), manifest.MaxInlineAudioBytes-10)
	lines := []struct {
		row, field, want string
	}{
		{row: `{"image":"ok.png","clip":"ok.mp4"}`},
		{row: `{"image":"big.png"}`, field: "image", want: "may be at most 6.0 MiB"},
		{row: `{"image":"wide.png"}`, field: "image", want: "32.0 megapixels; an image sent inline may be at most 32 megapixels"},
		{row: `{"image":"notpng.png"}`, field: "image", want: "its size in pixels cannot be read"},
		{row: `{"clip":"big.mp4"}`, field: "clip", want: "a video sent inline may be at most 32.0 MiB"},
		{row: `{"voice":"big.mp3"}`, field: "voice", want: "an audio sent inline may be at most 16.0 MiB"},
		{row: `{"image":"ok.mp4"}`, field: "image", want: "is a video (video/mp4); the field takes an image"},
		{row: `{"image":"near.png","clip":"near.mp4","voice":"near.mp3"}`, want: "the cap is 64.0 MiB"},
	}
	var body strings.Builder
	for _, l := range lines {
		body.WriteString(l.row + "\n")
	}
	path := writeFile(t, dir, "m.jsonl", []byte(body.String()), 0)
	rows, errs := readRows(t, path, manifest.Config{Schema: schema, Files: &manifest.LocalFiles{Send: manifest.FilesInline}})
	require.Len(t, rows, 1)
	require.Len(t, errs, len(lines)-1)
	for i, e := range errs {
		l := lines[i+1]
		assert.Equal(t, i+2, e.Line, l.row)
		assert.Equal(t, l.field, e.Field, l.row)
		assert.Contains(t, e.Error(), l.want, l.row)
		assert.ErrorIs(t, e, manifest.ErrLocalFile, l.row)
		assert.True(t, strings.HasPrefix(e.Error(), path+":"), "names the manifest: %s", e)
	}

	staged, errs := readRows(t, path, manifest.Config{Schema: schema, Files: &manifest.LocalFiles{Send: manifest.FilesStaged}})
	assert.Len(t, staged, len(lines)-1, "staged files have no inline caps")
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), "the field takes an image", "a video where an image goes is wrong either way")
}

func TestMediaOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		head []byte
		want manifest.Media
	}{
		{"a.png", pngHeader(1, 1), manifest.Media{Type: "image/png", Kind: manifest.MediaImage}},
		{"a.jpg", pngHeader(1, 1), manifest.Media{Type: "image/jpeg", Kind: manifest.MediaImage}},
		{"a.bin", pngHeader(1, 1), manifest.Media{Type: "image/png", Kind: manifest.MediaImage}},
		{"a.mp4", pngHeader(1, 1), manifest.Media{Type: "image/png", Kind: manifest.MediaImage}},
		{"a.MP4", []byte("\x00\x00\x00\x18ftypmp42"), manifest.Media{Type: "video/mp4", Kind: manifest.MediaVideo}},
		{"a.wav", []byte("x"), manifest.Media{Type: "audio/wav", Kind: manifest.MediaAudio}},
		{"a.dat", []byte("x"), manifest.Media{Type: "application/octet-stream", Kind: manifest.MediaOther}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, manifest.MediaOf(tt.name, tt.head), tt.name)
	}
}
