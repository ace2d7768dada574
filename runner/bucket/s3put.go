package bucket

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"gocloud.dev/blob"
)

// An S3 upload of a file whose SHA-256 is known is sent as one PutObject:
// the open file is the body, with its length, and the known digest is the
// signed payload hash. The driver's writer would instead copy the whole
// body into memory, and the SDK would read it twice more (the payload
// hash the signature needs over plain HTTP, and a CRC32 checksum). With
// the digest in the signature, the server refuses a body that does not
// match it, so nothing weaker than a checksum guards the bytes; and the
// request still commits the object whole or not at all.

// hexSHA256 is a digest the payload hash can be: 64 lowercase hex digits.
var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// putClient returns the S3 client that streams src to l, or nil when the
// driver's writer must do it: another cloud, a digest that is not one, or
// a key the driver would escape (control characters, "../").
func (c *Client) putClient(l Location, src Source) *s3.Client {
	if l.Scheme != "s3" || !hexSHA256.MatchString(src.SHA256) || escapedKey(l.Key) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.puts[l.bucketURL(c.getenv)]
}

// newPutClient derives the client for streamed puts from the S3 client
// of b, just opened: nothing else may use b yet, since the SDK sets up
// the credentials the two clients share as it makes the new one.
func newPutClient(b *blob.Bucket, conns int) *s3.Client {
	var base *s3.Client
	if !b.As(&base) {
		return nil
	}
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		// Each upload at once keeps its connection between uploads, rather
		// than dialing anew once more than the default 10 run.
		t.MaxIdleConnsPerHost = conns
		t.MaxIdleConns = max(t.MaxIdleConns, conns)
	})
	return s3.New(base.Options(), func(o *s3.Options) {
		o.HTTPClient = hc
		// The signed payload hash covers the body already (see above).
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.Retryer = sourceNotRetried{o.Retryer}
	})
}

// escapedKey reports whether the driver would write key under another
// name (it escapes control characters and the slash of "../"), so that
// only the driver can write it where Stat looks.
func escapedKey(key string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] < 32 || (i > 1 && key[i] == '/' && key[i-1] == '.' && key[i-2] == '.') {
			return true
		}
	}
	return false
}

// putS3 sends src to l as one PutObject, streaming the file.
func putS3(ctx context.Context, s3c *s3.Client, l Location, src Source) error {
	r, err := src.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(l.Bucket),
		Key:           aws.String(l.Key),
		Body:          bodyOf(r, src.Size),
		ContentLength: aws.Int64(src.Size),
		ContentType:   aws.String(src.ContentType),
		Metadata:      map[string]string{sha256Key: src.SHA256},
	}, withPayloadHash(src.SHA256))
	var se *sourceError
	if errors.As(err, &se) {
		return fmt.Errorf("upload %s: %w", l, se.err)
	}
	if err != nil {
		return objectError(l, err)
	}
	return nil
}

// withPayloadHash signs the request with sum as its payload's SHA-256,
// so that the SDK does not read the body to compute it.
func withPayloadHash(sum string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("PayloadHashKnown",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
					middleware.InitializeOutput, middleware.Metadata, error) {
					return next.HandleInitialize(v4.SetPayloadHash(ctx, sum), in)
				}), middleware.After)
		})
	}
}
