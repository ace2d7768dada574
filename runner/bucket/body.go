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

// body is an upload's source as the request reads it. A request with a
// length commits the object as soon as the server has that many bytes,
// while a source may say only at its end that it is not what it should
// be (a file checked against its digest as it is read). So body holds
// back the last bytes until the source has said it ended, and gives none
// of a read that fails: such a failure cuts the request short, and no
// object appears. It fails, as a sourceError, when the source errs or
// holds other than size bytes.
type body struct {
	r     io.Reader
	size  int64
	n     int64 // bytes read since the start
	ended bool  // the source said EOF after size bytes
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
	if b.ended {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case err != nil && err != io.EOF:
		return 0, &sourceError{err}
	case b.n > b.size, err == io.EOF && b.n < b.size:
		return 0, &sourceError{errChanged(b.n, b.size)}
	case err == io.EOF:
		b.ended = true
		return n, io.EOF
	case b.n == b.size && n > 0:
		if err := b.awaitEnd(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// awaitEnd reads past the last byte, for the source's own verdict.
func (b *body) awaitEnd() error {
	var one [1]byte
	for range 100 { // a reader may return 0, nil: try again, a few times
		m, err := b.r.Read(one[:])
		switch {
		case m > 0:
			return &sourceError{errChanged(b.size+int64(m), b.size)}
		case err == io.EOF: // ended, and said nothing else (a reader returns io.EOF itself, unwrapped)
			b.ended = true
			return nil
		case err != nil:
			return &sourceError{err}
		}
	}
	return &sourceError{io.ErrNoProgress}
}

func (b seekBody) Seek(offset int64, whence int) (int64, error) {
	pos, err := b.r.(io.Seeker).Seek(offset, whence)
	if err != nil {
		return pos, &sourceError{err}
	}
	b.n, b.ended = pos, false
	return pos, nil
}
