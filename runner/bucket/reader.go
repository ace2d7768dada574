package bucket

import (
	"context"
	"errors"
	"fmt"
	"io"

	"gocloud.dev/blob"
)

// NewReader opens l's object for reading as a stream, so that an object
// of any size (a batch's index) is never held whole; an error wraps
// ErrNotFound when there is none. The caller closes it.
func (c *Client) NewReader(ctx context.Context, l Location) (io.ReadCloser, error) {
	b, err := c.open(ctx, l)
	if err != nil {
		return nil, err
	}
	r, err := b.NewReader(ctx, l.Key, nil)
	if err != nil {
		return nil, objectError(l, err)
	}
	return r, nil
}

// Each calls fn with every object directly under the prefix dir names
// (not in sub-folders) whose name starts with start, in name order. It
// streams the listing: a prefix holding a million videos is never held in
// memory, and a start such as "results" asks the bucket for the few
// objects wanted only. fn's error stops it and is returned.
func (c *Client) Each(ctx context.Context, dir Location, start string, fn func(Location) error) error {
	b, err := c.open(ctx, dir)
	if err != nil {
		return err
	}
	prefix := dir.Key
	if prefix != "" && prefix[len(prefix)-1] != '/' {
		prefix += "/"
	}
	it := b.List(&blob.ListOptions{Prefix: prefix + start, Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", dir, err)
		}
		if obj.IsDir {
			continue
		}
		o := dir
		o.Key = obj.Key
		if err := fn(o); err != nil {
			return err
		}
	}
}
