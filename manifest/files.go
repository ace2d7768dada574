package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// FileSend says how the local files a manifest names reach the API, which
// fetches its inputs itself and cannot read the user's disk.
type FileSend int

const (
	// FilesRefused refuses a local file, naming both ways to send one.
	FilesRefused FileSend = iota
	// FilesStaged uploads each file to a bucket and sends a pre-signed URL.
	FilesStaged
	// FilesInline sends each file in the request as a data: URI, within
	// the inline caps (MaxInlineImageBytes…).
	FilesInline
)

// LocalFiles lets a manifest's file fields hold local files: a path
// (relative to Dir) or a file: URL. Each file is read once to take its
// SHA-256, which the row records beside the path (see LocalRef), so that an
// edited file is a new row and an unchanged one keeps its key. A LocalFiles
// remembers what it read, by path, size and modification time: the
// validation pass and the run's pass over one manifest hash each file once.
// It is safe for concurrent use.
type LocalFiles struct {
	// Send is how the files will be sent; FilesRefused (the zero value)
	// refuses them.
	Send FileSend
	// Dir is the folder relative paths are read from; "" means the
	// manifest's folder (the folder of the name a Reader was given).
	Dir string

	mu    sync.Mutex
	files map[string]fileFacts // by absolute path
}

// fileFacts is what reading a local file once told.
type fileFacts struct {
	size    int64
	modTime time.Time
	sha256  string
	media   Media
	pixels  int64 // width × height of an image; -1 if its header could not be read
}

// LocalRef is a local file as a row records it: the path as the manifest
// gave it (slash-separated, cleaned; relative to the manifest's folder
// unless absolute) and the file's SHA-256. Its string form,
// file:PATH#sha256=HEX, is what the row's key and hash cover and what the
// state, the index and exports keep: never the file's bytes.
type LocalRef struct {
	Path   string
	SHA256 string // hex, lower case
}

// String is the recorded form: a file: URL with the digest as fragment.
func (r LocalRef) String() string {
	u := url.URL{Scheme: "file", Fragment: "sha256=" + r.SHA256}
	if strings.HasPrefix(r.Path, "/") {
		u.Path = r.Path // file:///abs/a.png
	} else {
		u.Opaque = (&url.URL{Path: r.Path}).EscapedPath() // file:images/a.png
	}
	return u.String()
}

// ParseLocalRef reads the recorded form of a local file back; false if s
// is not one.
func ParseLocalRef(s string) (LocalRef, bool) {
	if !strings.HasPrefix(s, "file:") || !strings.Contains(s, "#sha256=") {
		return LocalRef{}, false
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "file" || u.Host != "" {
		return LocalRef{}, false
	}
	digest, ok := strings.CutPrefix(u.Fragment, "sha256=")
	if !ok || !isHexDigest(digest) {
		return LocalRef{}, false
	}
	p := u.Path
	if u.Opaque != "" {
		if p, err = url.PathUnescape(u.Opaque); err != nil {
			return LocalRef{}, false
		}
	}
	if p == "" {
		return LocalRef{}, false
	}
	return LocalRef{Path: p, SHA256: digest}, true
}

// Resolve returns the file's path on this machine: Path itself when
// absolute, else Path under dir (the manifest's folder).
func (r LocalRef) Resolve(dir string) string {
	p := filepath.FromSlash(r.Path)
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func isHexDigest(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// refKind is what a file field's value names.
type refKind uint8

const (
	refURL    refKind = iota // a URL with a scheme of its own (https, ftp, data…), or //host
	refBucket                // s3://, gs://, azblob://
	refFile                  // a file: URL
	refLocal                 // a path on this machine
)

// bucketSchemes are the schemes of bucket URLs, as runner/bucket reads
// them; manifest checks their shape only and opens no bucket.
var bucketSchemes = [...]string{"s3", "gs", "azblob"}

// classifyRef says what a file field's value names, by its scheme: a
// scheme of one letter is a Windows drive (C:\images\a.png), a path.
func classifyRef(s string) refKind {
	if strings.HasPrefix(s, "//") {
		return refURL
	}
	scheme, _, ok := strings.Cut(s, ":")
	if !ok || len(scheme) < 2 || !isSchemeName(scheme) {
		return refLocal
	}
	if strings.EqualFold(scheme, "file") {
		return refFile
	}
	for _, b := range bucketSchemes {
		if strings.EqualFold(scheme, b) && strings.HasPrefix(s[len(scheme):], "://") {
			return refBucket
		}
	}
	return refURL
}

// IsBucketURL reports whether a file field's value names a bucket object
// (s3://, gs://, azblob://), by its scheme: what the runner pre-signs and
// `validate --check-urls` asks the bucket about.
func IsBucketURL(s string) bool { return classifyRef(s) == refBucket }

// isSchemeName reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.'.
func isSchemeName(s string) bool {
	for i, c := range []byte(s) {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// checkBucketURL accepts scheme://bucket/key naming one object, without
// user info or fragment: the shape runner/bucket opens. Whether the object
// exists is for `validate --check-urls`; its pre-signed URL is made just
// before each submit and never recorded.
func checkBucketURL(s, noun string) error {
	if len(s) > MaxImageURLBytes {
		return problemf(ErrInvalidURL, "the URL is %d bytes long; the limit is %d", len(s), MaxImageURLBytes).also(ErrTooLong)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return problemf(ErrInvalidURL, "%s is not a valid URL", quoteURL(s))
	case u.User != nil:
		return problemf(ErrInvalidURL, "%s holds credentials; the bucket's credentials come from the cloud's environment or config", quoteURL(s))
	case u.Host == "":
		return problemf(ErrInvalidURL, "%s names no bucket; write %s://bucket/key", quoteURL(s), strings.ToLower(u.Scheme))
	case u.Fragment != "" || strings.Contains(s, "#"):
		return problemf(ErrInvalidURL, "%s has a fragment (#…), which is no part of an object's name", quoteURL(s))
	case strings.TrimPrefix(u.Path, "/") == "" || strings.HasSuffix(u.Path, "/"):
		return problemf(ErrInvalidURL, "%s names no object; give the key of the %s in the bucket", quoteURL(s), noun)
	}
	return nil
}

// localPath returns the path a refLocal or refFile value names, slash-
// separated and cleaned, as the row records it.
func localPath(s string, kind refKind) (string, error) {
	if kind == refLocal {
		return path.Clean(filepath.ToSlash(s)), nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", problemf(ErrInvalidURL, "%s is not a valid file: URL", quote(s))
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", problemf(ErrInvalidURL, "%s names another machine; give a path on this one", quote(s))
	}
	p := u.Path
	if u.Opaque != "" {
		if p, err = url.PathUnescape(u.Opaque); err != nil {
			return "", problemf(ErrInvalidURL, "%s is not a valid file: URL", quote(s))
		}
	}
	if p == "" {
		return "", problemf(ErrInvalidURL, "%s names no file", quote(s))
	}
	return path.Clean(p), nil
}

// unsentLocal is the refusal of a local file when no way to send it was
// chosen.
func unsentLocal(s, noun string) error {
	return problemf(ErrLocalFile, "%s is a local file, and the API fetches the %s itself: "+
		"run with --stage-to BUCKET_URL/prefix (uploaded once, then sent as a pre-signed URL) "+
		"or --inline (sent in the request as a data: URI)", quote(s), noun).also(ErrInvalidURL)
}

// facts reads what the row needs of the file at abs: its size and digest,
// and an image's dimensions. A file unchanged since it was last read (same
// size and modification time) is not read again.
func (lf *LocalFiles) facts(abs string) (fileFacts, error) {
	fi, err := os.Stat(abs)
	if err != nil {
		return fileFacts{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileFacts{}, errors.New("not a regular file")
	}
	lf.mu.Lock()
	f, ok := lf.files[abs]
	lf.mu.Unlock()
	if ok && f.size == fi.Size() && f.modTime.Equal(fi.ModTime()) {
		return f, nil
	}
	f, err = readFacts(abs)
	if err != nil {
		return fileFacts{}, err
	}
	f.modTime = fi.ModTime()
	lf.mu.Lock()
	if lf.files == nil {
		lf.files = map[string]fileFacts{}
	}
	lf.files[abs] = f
	lf.mu.Unlock()
	return f, nil
}

// readFacts reads the file at abs once: its SHA-256 and size, its media
// type from its name and first bytes, and an image's pixel count from its
// header.
func readFacts(abs string) (fileFacts, error) {
	fh, err := os.Open(abs)
	if err != nil {
		return fileFacts{}, err
	}
	defer fh.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(fh, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fileFacts{}, err
	}
	head = head[:n]
	h := sha256.New()
	h.Write(head)
	rest, err := io.Copy(h, fh)
	if err != nil {
		return fileFacts{}, err
	}
	f := fileFacts{size: int64(n) + rest, sha256: hex.EncodeToString(h.Sum(nil)), pixels: -1}
	f.media = MediaOf(abs, head)
	if f.media.Kind == MediaImage {
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			return fileFacts{}, err
		}
		f.pixels = imagePixels(fh)
	}
	return f, nil
}

// localFile checks a local file for a file field and returns its recorded
// form. With FilesInline it also checks the inline caps, and adds what the
// file adds to the request to c.inlineBytes.
func (c *checker) localFile(p *property, s string, kind refKind) (value, error) {
	noun := fileNoun(p.name)
	if c.files == nil || c.files.Send == FilesRefused {
		return value{}, unsentLocal(s, noun)
	}
	rel, err := localPath(s, kind)
	if err != nil {
		return value{}, err
	}
	ref := LocalRef{Path: rel}
	abs := ref.Resolve(c.dir)
	f, err := c.files.facts(abs)
	if err != nil {
		return value{}, problemf(ErrLocalFile, "%s cannot be read: %v", quote(s), unwrapPathError(err))
	}
	ref.SHA256 = f.sha256
	if err := checkMedia(p, s, f); err != nil {
		return value{}, err
	}
	if c.files.Send == FilesInline {
		n, err := inlineCost(p, s, f)
		if err != nil {
			return value{}, err
		}
		c.inlineBytes += n
	}
	return stringValue(ref.String()), nil
}

// unwrapPathError drops the path an *os.PathError repeats: the message
// quotes the value as the manifest wrote it.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileValue checks a file field's value and returns what the row records:
// an https URL or a bucket URL as written, a local file as its LocalRef.
func (c *checker) fileValue(p *property, s string) (value, error) {
	noun := fileNoun(p.name)
	switch kind := classifyRef(s); kind {
	case refBucket:
		return stringValue(s), checkBucketURL(s, noun)
	case refFile, refLocal:
		return c.localFile(p, s, kind)
	}
	return stringValue(s), checkFileURL(s, noun)
}

// inlineRequestCheck refuses a row whose request, its files sent inline,
// would be over MaxInlineRequestBytes.
func (c *checker) inlineRequestCheck(in Input) error {
	if c.inlineBytes == 0 {
		return nil
	}
	if n := int64(in.bodyLen()) + c.inlineBytes; n > MaxInlineRequestBytes {
		return problemf(ErrTooLong, "with its files inline the request would be %s; the cap is %s (stage the files with --stage-to instead)",
			sizeText(n), sizeText(MaxInlineRequestBytes)).also(ErrLocalFile)
	}
	return nil
}

// sizeText writes a byte count for messages: in MiB from 1 MiB up.
func sizeText(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
