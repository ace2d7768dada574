// Package fakes3 starts an in-process S3 (gofakes3) on loopback for unit
// tests: quick, and with buckets a test can look into, but accepting any
// signature. End-to-end tests that must see a wrong or expired signature
// refused use the real server of package versitygw instead.
package fakes3

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is a running fake S3 and the store behind it.
type Server struct {
	Backend *s3mem.Backend
	// URL is the server's http:// address, the endpoint of Prefix's URLs.
	URL string
}

// Start starts a fake S3 holding the named (empty) buckets, stopped at the
// test's end, and points the AWS SDK at fake credentials and nothing else
// (SetEnv). wrap, if not nil, wraps its handler: a test can make the bucket
// go away mid-run.
func Start(t testing.TB, wrap func(http.Handler) http.Handler, buckets ...string) *Server {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatalf("fakes3: create bucket %s: %v", b, err)
		}
	}
	var h http.Handler = gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	SetEnv(t)
	return &Server{Backend: backend, URL: srv.URL}
}

// Prefix is the s3:// URL of prefix in bucket on this server, with the
// options that reach it (path-style, plain http, its endpoint).
func (s *Server) Prefix(bucket, prefix string) string {
	return "s3://" + bucket + "/" + prefix + "?region=us-east-1&use_path_style=true&disable_https=true&endpoint=" + s.URL
}

// Env is the fake credentials, and the settings that keep the AWS SDK from
// every file and host it would otherwise ask, for a child process.
func Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":           "fake",
		"AWS_SECRET_ACCESS_KEY":       "fake-secret",
		"AWS_REGION":                  "us-east-1",
		"AWS_CONFIG_FILE":             "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// SetEnv sets Env in the test's environment, restored at its end.
func SetEnv(t testing.TB) {
	t.Helper()
	for k, v := range Env() {
		t.Setenv(k, v)
	}
}
