package versitygw

import (
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TB is what the test helpers need of a *testing.T or *testing.B; the
// package does not import testing, so that a benchmark run by the
// pikabatch binary may use the server too.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Setenv(key, value string)
}

// Start finds or builds the server, starts it on a free loopback port
// serving a temporary folder, and returns once it answers S3 requests;
// t's cleanup stops it. It fails t, never skips it, when it cannot.
func Start(t TB) *Server {
	t.Helper()
	bin, err := Find()
	if err != nil {
		t.Fatalf("%v", err)
	}
	s, err := Launch(context.Background(), bin, t.TempDir())
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// CreateBucket makes an empty bucket.
func (s *Server) CreateBucket(t TB, name string) {
	t.Helper()
	if err := s.MakeBucket(context.Background(), name); err != nil {
		t.Fatalf("%v", err)
	}
}

// Put writes an object.
func (s *Server) Put(t TB, bucket, key string, body []byte) {
	t.Helper()
	_, err := s.Client().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("versitygw: put %s/%s: %v", bucket, key, err)
	}
}

// PresignGet returns a GET URL for bucket/key valid for ttl, signed as if
// the clock read shift later. A negative shift longer than ttl makes a URL
// that was valid once and has expired, which the server must refuse by
// its own clock as S3 does, without the test waiting for it.
func (s *Server) PresignGet(t TB, bucket, key string, ttl, shift time.Duration) string {
	t.Helper()
	u, err := s.presignGet(context.Background(), bucket, key, ttl, shift)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return u
}

// SetEnv points the AWS SDK's standard chain at the server for the rest of
// t (see Env).
func (s *Server) SetEnv(t TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}
