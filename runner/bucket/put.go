package bucket

import (
	"context"
	"fmt"
	"io"

	"gocloud.dev/blob"
)

// Put writes src to l without asking first whether an object of its size
// and digest is there: for a file just made, which no copy can hold yet,
// the look is a round trip for nothing. The object appears whole or not
// at all, with src's digest in its metadata, as Upload writes it.
func (c *Client) Put(ctx context.Context, l Location, src Source) error {
	b, err := c.open(ctx, l)
	if err != nil {
		return err
	}
	return c.put(ctx, b, l, src)
}

// put writes src to l in b: on S3 as one streamed request when it can
// (see putS3), else through the driver's writer.
func (c *Client) put(ctx context.Context, b *blob.Bucket, l Location, src Source) error {
	if s3c := c.putClient(l, src); s3c != nil {
		return putS3(ctx, s3c, l, src)
	}
	r, err := src.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	wctx, cancel := context.WithCancel(ctx) // cancelling before Close aborts the write
	defer cancel()
	w, err := b.NewWriter(wctx, l.Key, &blob.WriterOptions{
		ContentType: src.ContentType,
		Metadata:    map[string]string{sha256Key: src.SHA256},
	})
	if err != nil {
		return objectError(l, err)
	}
	n, err := io.Copy(w, r)
	if err == nil && n != src.Size {
		err = errChanged(n, src.Size)
	}
	if err != nil {
		cancel()
		_ = w.Close()
		return fmt.Errorf("upload %s: %w", l, err)
	}
	if err := w.Close(); err != nil {
		return objectError(l, err)
	}
	return nil
}

func errChanged(n, size int64) error {
	return fmt.Errorf("read %d bytes, expected %d: the file changed while it was uploaded", n, size)
}
