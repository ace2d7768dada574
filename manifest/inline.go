package manifest

import (
	"encoding/base64"
	"image"
	_ "image/gif"  // image.DecodeConfig reads GIF headers
	_ "image/jpeg" // … JPEG
	_ "image/png"  // … PNG
	"io"
	"net/http"
	"path/filepath"
	"strings"

	_ "golang.org/x/image/webp" // … and WebP, which the standard library does not read
)

// Caps on a file sent inline, as a data: URI in the request. They are the
// ones RunComfy's own clients keep to when they send media to the Model
// API this way, checked at validation so that no row over them is sent.
const (
	// MaxInlineImageBytes caps an image file sent inline.
	MaxInlineImageBytes = 6 << 20
	// MaxInlineImagePixels caps an image's width × height.
	MaxInlineImagePixels = 32_000_000
	// MaxInlineVideoBytes caps a video file sent inline.
	MaxInlineVideoBytes = 32 << 20
	// MaxInlineAudioBytes caps an audio file sent inline.
	MaxInlineAudioBytes = 16 << 20
	// MaxInlineRequestBytes caps a whole request with its files inline,
	// base64 and all.
	MaxInlineRequestBytes = 64 << 20
)

// MediaKind is what a file holds, or what a file field takes.
type MediaKind uint8

// Media kinds. MediaOther is a file of no kind this package knows, or a
// field that does not say.
const (
	MediaOther MediaKind = iota
	MediaImage
	MediaVideo
	MediaAudio
)

func (k MediaKind) String() string {
	switch k {
	case MediaImage:
		return "image"
	case MediaVideo:
		return "video"
	case MediaAudio:
		return "audio"
	}
	return "file"
}

// Media is a file's media type (for a data: URI or an upload's
// Content-Type) and its kind.
type Media struct {
	Type string // "image/png"
	Kind MediaKind
}

// mediaByExt are the types of the extensions a dataset's files have. A
// table of our own, not mime.TypeByExtension: that one reads the system's
// mime.types, so a file's recorded type would change with the machine.
var mediaByExt = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff",
	".avif": "image/avif", ".heic": "image/heic",
	".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
	".mkv": "video/x-matroska", ".avi": "video/x-msvideo",
	".mp3": "audio/mpeg", ".wav": "audio/wav", ".m4a": "audio/mp4", ".aac": "audio/aac",
	".ogg": "audio/ogg", ".oga": "audio/ogg", ".flac": "audio/flac", ".opus": "audio/opus",
}

// MediaOf returns the media of a file named name whose first bytes are
// head (up to 512 are looked at): by its content when it is unmistakable,
// else by its extension.
func MediaOf(name string, head []byte) Media {
	sniffed := http.DetectContentType(head)
	t, known := mediaByExt[strings.ToLower(filepath.Ext(name))]
	switch {
	case strings.HasPrefix(sniffed, "image/"), strings.HasPrefix(sniffed, "video/"), strings.HasPrefix(sniffed, "audio/"):
		if !known || kindOf(t) != kindOf(sniffed) {
			t = sniffed
		}
	case !known:
		t = "application/octet-stream"
	}
	return Media{Type: t, Kind: kindOf(t)}
}

func kindOf(mediaType string) MediaKind {
	switch {
	case strings.HasPrefix(mediaType, "image/"):
		return MediaImage
	case strings.HasPrefix(mediaType, "video/"):
		return MediaVideo
	case strings.HasPrefix(mediaType, "audio/"):
		return MediaAudio
	}
	return MediaOther
}

// imagePixels returns an image's width × height from its header alone
// (PNG, JPEG, GIF, WebP), or -1 when it cannot be read.
func imagePixels(r io.Reader) int64 {
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return -1
	}
	return int64(cfg.Width) * int64(cfg.Height)
}

// fieldMedia is what a file field takes: by its format (image_uri…), else
// by its name (image, video_url, maskUrl…); MediaOther if neither says.
func fieldMedia(p *property) MediaKind {
	if p.media != MediaOther {
		return p.media
	}
	switch fileNoun(p.name) {
	case "image", "mask":
		return MediaImage
	case "video":
		return MediaVideo
	case "audio":
		return MediaAudio
	}
	return MediaOther
}

// checkMedia refuses a file of another kind than its field takes: a video
// where an image goes is a mistake whichever way it is sent.
func checkMedia(p *property, s string, f fileFacts) error {
	want := fieldMedia(p)
	if want == MediaOther || f.media.Kind == MediaOther || f.media.Kind == want {
		return nil
	}
	return problemf(ErrLocalFile, "%s is %s (%s); the field takes %s", quote(s), article(f.media.Kind), f.media.Type, article(want))
}

func article(k MediaKind) string {
	if k == MediaImage || k == MediaAudio {
		return "an " + k.String()
	}
	return "a " + k.String()
}

// inlineCost checks a local file against the inline caps of its kind and
// returns what it adds to the request as a data: URI.
func inlineCost(p *property, s string, f fileFacts) (int64, error) {
	kind := fieldMedia(p)
	if kind == MediaOther {
		kind = f.media.Kind
	}
	over := func(limit int64) error {
		return problemf(ErrTooLong, "%s is %s; %s sent inline may be at most %s (stage it with --stage-to instead)",
			quote(s), sizeText(f.size), article(kind), sizeText(limit)).also(ErrLocalFile)
	}
	switch kind {
	case MediaImage:
		if f.size > MaxInlineImageBytes {
			return 0, over(MaxInlineImageBytes)
		}
		if f.pixels < 0 {
			return 0, problemf(ErrLocalFile, "%s: its size in pixels cannot be read (PNG, JPEG, GIF and WebP are), so its inline cap of %d megapixels cannot be checked",
				quote(s), MaxInlineImagePixels/1_000_000)
		}
		if f.pixels > MaxInlineImagePixels {
			return 0, problemf(ErrTooLong, "%s is %.1f megapixels; an image sent inline may be at most %d megapixels",
				quote(s), float64(f.pixels)/1e6, MaxInlineImagePixels/1_000_000).also(ErrLocalFile)
		}
	case MediaVideo:
		if f.size > MaxInlineVideoBytes {
			return 0, over(MaxInlineVideoBytes)
		}
	case MediaAudio:
		if f.size > MaxInlineAudioBytes {
			return 0, over(MaxInlineAudioBytes)
		}
	}
	return DataURILen(f.media.Type, f.size), nil
}

// DataURILen is the length of a data: URI of a file of size bytes.
func DataURILen(mediaType string, size int64) int64 {
	return int64(len("data:;base64,")+len(mediaType)) + int64(base64.StdEncoding.EncodedLen(int(size)))
}
