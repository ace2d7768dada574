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
		err = fmt.Errorf("read %d bytes, expected %d: the file changed while it was uploaded", n, src.Size)
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
