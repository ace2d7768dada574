package bucket

import (
	"context"
	"errors"
)

// StatURL is Stat for an object named by its bucket URL, in the shape
// `validate --check-urls` asks (manifest/probe.Objects): the object's size
// and content type, and found false, without an error, when it is not
// there.
func (c *Client) StatURL(ctx context.Context, raw string) (size int64, contentType string, found bool, err error) {
	l, err := Parse(raw)
	if err != nil {
		return 0, "", false, err
	}
	a, err := c.Stat(ctx, l)
	if errors.Is(err, ErrNotFound) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, err
	}
	return a.Size, a.ContentType, true, nil
}
