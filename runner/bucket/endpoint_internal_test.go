package bucket

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBucketURLPathStyle: an S3 bucket reached through a custom endpoint,
// from the URL or from either of the SDK's endpoint variables, is addressed
// path-style unless the URL says how; AWS itself and other clouds are left
// as they are. An S3 bucket's reads check checksums only when asked (the
// SDK would otherwise log a line for every object stored without one),
// unless the URL or the environment says otherwise.
func TestBucketURLPathStyle(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name   string
		loc    Location
		getenv func(string) string
		want   string
	}{
		{"aws", Location{Scheme: "s3", Bucket: "b"}, env(), "s3://b?response_checksum_validation=when_required"},
		{"region only", Location{Scheme: "s3", Bucket: "b", Options: "region=eu-west-1"}, env(), "s3://b?region=eu-west-1&response_checksum_validation=when_required"},
		{"AWS_ENDPOINT_URL_S3", Location{Scheme: "s3", Bucket: "b"}, env("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000"), "s3://b?use_path_style=true&response_checksum_validation=when_required"},
		{"AWS_ENDPOINT_URL", Location{Scheme: "s3", Bucket: "b"}, env("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"), "s3://b?use_path_style=true&response_checksum_validation=when_required"},
		{"endpoint option", Location{Scheme: "s3", Bucket: "b", Options: "endpoint=http://x"}, env(), "s3://b?endpoint=http://x&use_path_style=true&response_checksum_validation=when_required"},
		{"path style said", Location{Scheme: "s3", Bucket: "b", Options: "use_path_style=false"}, env("AWS_ENDPOINT_URL_S3", "http://x"), "s3://b?use_path_style=false&response_checksum_validation=when_required"},
		{"legacy path style said", Location{Scheme: "s3", Bucket: "b", Options: "s3ForcePathStyle=false"}, env("AWS_ENDPOINT_URL", "http://x"), "s3://b?s3ForcePathStyle=false&response_checksum_validation=when_required"},
		{"endpoints ignored", Location{Scheme: "s3", Bucket: "b"}, env("AWS_ENDPOINT_URL_S3", "http://x", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"), "s3://b?response_checksum_validation=when_required"},
		{"checksum validation said", Location{Scheme: "s3", Bucket: "b", Options: "response_checksum_validation=when_supported"}, env(), "s3://b?response_checksum_validation=when_supported"},
		{"checksum validation from the environment", Location{Scheme: "s3", Bucket: "b"}, env("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_supported"), "s3://b"},
		{"gs untouched", Location{Scheme: "gs", Bucket: "b"}, env("AWS_ENDPOINT_URL", "http://x"), "gs://b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.loc.bucketURL(tt.getenv))
		})
	}
}
