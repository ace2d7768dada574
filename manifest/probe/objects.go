package probe

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/pikabatch/pikabatch/manifest"
)

// Objects says what a bucket holds, for the bucket URLs a manifest names.
// The runner's bucket client implements it.
type Objects interface {
	// StatURL returns the size and content type of the object bucketURL
	// names, and found false (with no error) when there is none. It reads
	// the object's attributes only, with the cloud's own credentials.
	StatURL(ctx context.Context, bucketURL string) (size int64, contentType string, found bool, err error)
}

// checkObject judges a bucket URL through the bucket's API: the object is
// there, not empty, within the size limit, and of the kind its field takes
// (by its content type, or by its name when the type says nothing). The
// API gets a pre-signed URL for it at submit; nothing is fetched here.
func (c *Checker) checkObject(ctx context.Context, rawURL string, kind Kind) Result {
	res := Result{URL: rawURL, Method: "STAT", Size: -1}
	if c.cfg.Objects == nil {
		res.Problem = "bucket URLs are not checked: no bucket client"
		return res
	}
	size, ct, found, err := c.cfg.Objects.StatURL(ctx, rawURL)
	switch {
	case err != nil:
		res.Problem = "the bucket did not answer: " + requestProblem(err)
		return res
	case !found:
		res.Problem = "no such object in the bucket"
		return res
	}
	res.Size, res.ContentType = size, mediaType(ct)
	if isGeneric(res.ContentType) {
		res.ContentType = manifest.MediaOf(objectName(rawURL), nil).Type
	}
	switch {
	case !strings.HasPrefix(res.ContentType, string(kind)+"/"):
		res.Problem = fmt.Sprintf("not %s (%s)", kind.article(), res.ContentType)
	case res.Size == 0:
		res.Problem = "an empty file"
	case res.Size > c.cfg.MaxBytes:
		res.Problem = fmt.Sprintf("%d bytes, over the %d MB limit", res.Size, c.cfg.MaxBytes>>20)
	default:
		res.OK = true
	}
	return res
}

// objectName is the last segment of a bucket URL's key, for its extension.
func objectName(rawURL string) string {
	u, _, _ := strings.Cut(rawURL, "?")
	return path.Base(u)
}

// checkLocal passes a local file the manifest read and recorded (its
// digest taken, its kind checked): there is no host to ask.
func checkLocal(rawURL string, ref manifest.LocalRef) Result {
	return Result{URL: rawURL, Method: "FILE", Size: -1, OK: true, ContentType: manifest.MediaOf(ref.Path, nil).Type}
}
