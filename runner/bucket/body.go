package bucket

import (
	"errors"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// sourceError is an error of the file being uploaded, not of the bucket:
// sending it again would read the same file and fail the same way.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// sourceNotRetried is the SDK's retryer, except that an error of the
// source is final.
type sourceNotRetried struct{ aws.Retryer }

func (r sourceNotRetried) IsErrorRetryable(err error) bool {
	var se *sourceError
	return !errors.As(err, &se) && r.Retryer.IsErrorRetryable(err)
}

// body is an upload's source as the request reads it: it fails, as a
// sourceError, when the source errs or holds other than size bytes.
type body struct {
	r    io.Reader
	size int64
	n    int64
}

// seekBody is a body whose source can be rewound, so that the SDK can
// send it again after a failed attempt.
type seekBody struct{ *body }

// bodyOf returns r as a request body of size bytes.
func bodyOf(r io.Reader, size int64) io.Reader {
	b := &body{r: r, size: size}
	if _, ok := r.(io.Seeker); ok {
		return seekBody{b}
	}
	return b
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case b.n > b.size || (errors.Is(err, io.EOF) && b.n != b.size):
		return n, &sourceError{errChanged(b.n, b.size)}
	case err != nil && !errors.Is(err, io.EOF):
		return n, &sourceError{err}
	}
	return n, err
}

func (b seekBody) Seek(offset int64, whence int) (int64, error) {
	pos, err := b.r.(io.Seeker).Seek(offset, whence)
	if err != nil {
		return pos, &sourceError{err}
	}
	b.n = pos
	return pos, nil
}
