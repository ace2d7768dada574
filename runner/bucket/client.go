package bucket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob:// URLs
	_ "gocloud.dev/blob/gcsblob"   // gs:// URLs
	_ "gocloud.dev/blob/s3blob"    // s3:// URLs
	"gocloud.dev/gcerrors"
)

// sha256Key is the object metadata that holds an upload's SHA-256, hex.
const sha256Key = "sha256"

// Client reaches the buckets a batch names, opening each bucket once.
// It is safe for concurrent use; Close closes every bucket it opened.
type Client struct {
	mu      sync.Mutex
	buckets map[string]*blob.Bucket
	puts    map[string]*s3.Client // an S3 bucket's client for streamed puts, by bucket URL
	closed  bool
	getenv  func(string) string // the environment, read for S3 endpoints
	conns   int                 // idle connections kept to one host for puts
}

// Config holds a Client's settings. Zero values take the defaults.
type Config struct {
	// Conns is how many uploads may run at once without dialing anew:
	// the idle connections kept to one host. Default 16.
	Conns int
}

// NewClient returns a Client with the default Config.
func NewClient() *Client { return New(Config{}) }

// New returns a Client that has opened no bucket yet. Credentials,
// regions and endpoints come from each cloud's standard chain, read when a
// bucket is first opened.
func New(cfg Config) *Client {
	if cfg.Conns <= 0 {
		cfg.Conns = 16
	}
	return &Client{buckets: map[string]*blob.Bucket{}, puts: map[string]*s3.Client{}, getenv: os.Getenv, conns: cfg.Conns}
}

// Close closes the buckets c opened. It is safe to call twice.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for k, b := range c.buckets {
		errs = append(errs, b.Close())
		delete(c.buckets, k)
	}
	clear(c.puts)
	c.closed = true
	return errors.Join(errs...)
}

// open returns l's bucket, opening it on first use.
func (c *Client) open(ctx context.Context, l Location) (*blob.Bucket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("bucket client closed")
	}
	u := l.bucketURL(c.getenv)
	if b, ok := c.buckets[u]; ok {
		return b, nil
	}
	b, err := blob.OpenBucket(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s://%s: %w", l.Scheme, l.Bucket, err)
	}
	if l.Scheme == "s3" {
		if s3c := newPutClient(b, c.conns); s3c != nil {
			c.puts[u] = s3c
		}
	}
	c.buckets[u] = b
	return b, nil
}

// Presign returns a GET URL for l's object, valid for ttl. The URL is a
// credential: send it to the API, never keep or print it.
func (c *Client) Presign(ctx context.Context, l Location, ttl time.Duration) (string, error) {
	b, err := c.open(ctx, l)
	if err != nil {
		return "", err
	}
	u, err := b.SignedURL(ctx, l.Key, &blob.SignedURLOptions{Expiry: ttl, Method: http.MethodGet})
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", l, err)
	}
	return u, nil
}

// Attrs is what a bucket says of an object.
type Attrs struct {
	Size        int64
	ContentType string
	SHA256      string // from the object's metadata; "" when it has none
}

// Stat returns l's object's attributes, or an error wrapping ErrNotFound.
func (c *Client) Stat(ctx context.Context, l Location) (Attrs, error) {
	b, err := c.open(ctx, l)
	if err != nil {
		return Attrs{}, err
	}
	a, err := b.Attributes(ctx, l.Key)
	if err != nil {
		return Attrs{}, objectError(l, err)
	}
	return Attrs{Size: a.Size, ContentType: a.ContentType, SHA256: a.Metadata[sha256Key]}, nil
}

// Source is a file to upload: its size and SHA-256 (hex) known up front, so
// that an object already in the bucket can be recognised without reading.
type Source struct {
	Open        func() (io.ReadCloser, error)
	Size        int64
	SHA256      string
	ContentType string
}

// Upload writes src to l unless an object with its size and SHA-256 is
// there already; it reports whether it wrote. The object appears whole or
// not at all: the drivers commit on Close, and a failed copy is aborted.
func (c *Client) Upload(ctx context.Context, l Location, src Source) (bool, error) {
	if a, err := c.Stat(ctx, l); err == nil && a.Size == src.Size && a.SHA256 == src.SHA256 {
		return false, nil
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	b, err := c.open(ctx, l)
	if err != nil {
		return false, err
	}
	if err := c.put(ctx, b, l, src); err != nil {
		return false, err
	}
	return true, nil
}

// Read returns l's object whole; for small objects such as an index.
func (c *Client) Read(ctx context.Context, l Location) ([]byte, error) {
	b, err := c.open(ctx, l)
	if err != nil {
		return nil, err
	}
	p, err := b.ReadAll(ctx, l.Key)
	if err != nil {
		return nil, objectError(l, err)
	}
	return p, nil
}

// List returns the objects under the prefix l names (recursively).
func (c *Client) List(ctx context.Context, l Location) ([]Location, error) {
	b, err := c.open(ctx, l)
	if err != nil {
		return nil, err
	}
	prefix := l.Key
	if prefix != "" && prefix[len(prefix)-1] != '/' {
		prefix += "/"
	}
	var out []Location
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", l, err)
		}
		if !obj.IsDir {
			o := l
			o.Key = obj.Key
			out = append(out, o)
		}
	}
}

// objectError names l in err, and makes a missing object ErrNotFound and
// a refused request ErrDenied.
func objectError(l Location, err error) error {
	var re interface{ HTTPStatusCode() int }
	switch {
	case gcerrors.Code(err) == gcerrors.NotFound:
		return fmt.Errorf("%s: %w", l, ErrNotFound)
	case gcerrors.Code(err) == gcerrors.PermissionDenied,
		errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusUnauthorized || re.HTTPStatusCode() == http.StatusForbidden):
		return fmt.Errorf("%s: %w: %w", l, ErrDenied, err)
	}
	return fmt.Errorf("%s: %w", l, err)
}
