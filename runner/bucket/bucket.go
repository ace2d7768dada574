// Package bucket owns a batch's objects in cloud buckets: the images a
// manifest names as s3://, gs:// or azblob:// URLs, handed to the API as
// short-lived pre-signed GET URLs, and the videos and index a batch copies
// to a bucket prefix.
//
// A bucket URL is the batch's name for an object; a pre-signed URL is a
// credential. So the URL a user wrote is what the state, the index, the
// logs and the report keep, and a signature is made just before it is sent
// and never stored. The bucket is reached through gocloud.dev/blob, whose
// drivers read the cloud's usual credentials (AWS_*, GOOGLE_APPLICATION_
// CREDENTIALS, AZURE_*): the RunComfy token is never sent to a bucket.
// An S3-compatible service (MinIO, R2, versitygw) is reached as the AWS
// SDK reaches one, through AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (or an
// endpoint option in the URL), and then addressed path-style, as s5cmd
// does, since such services serve every bucket under one host name.
//
// An upload is content-addressed by its SHA-256, kept as the object's
// "sha256" metadata: an object already there with the same size and digest
// is not sent again, so a resumed batch uploads nothing twice.
package bucket

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Schemes are the bucket URL schemes a manifest and the flags take.
var Schemes = []string{"s3", "gs", "azblob"}

// ErrNotFound: the object does not exist.
var ErrNotFound = errors.New("no such object")

// ErrDenied: the bucket refused the request (HTTP 401 or 403: access
// denied, a signature it does not accept). Waiting does not cure it: the
// credentials or the bucket's policy must change.
var ErrDenied = errors.New("the bucket refused access")

// IsURL reports whether s names an object or a prefix in a bucket, by its
// scheme.
func IsURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return false
	}
	for _, sc := range Schemes {
		if strings.EqualFold(scheme, sc) {
			return true
		}
	}
	return false
}

// Location is a parsed bucket URL: scheme://bucket/key?options. The key is
// an object's name or a prefix; the options (region, endpoint…) are the
// bucket driver's and hold no credentials.
type Location struct {
	Scheme  string
	Bucket  string
	Key     string
	Options string // the raw query, passed to the driver as it is
}

// Parse reads a bucket URL.
func Parse(raw string) (Location, error) {
	if !IsURL(raw) {
		return Location{}, fmt.Errorf("%q is not a bucket URL (%s)", raw, schemeList())
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, fmt.Errorf("bucket URL %q: %w", raw, err)
	}
	if u.User != nil {
		return Location{}, fmt.Errorf("bucket URL %q: credentials in the URL are refused; use the cloud's environment or config", u.Redacted())
	}
	if u.Host == "" {
		return Location{}, fmt.Errorf("bucket URL %q names no bucket", raw)
	}
	if u.Fragment != "" {
		return Location{}, fmt.Errorf("bucket URL %q: a fragment (#…) is not part of an object's name", raw)
	}
	return Location{
		Scheme:  strings.ToLower(u.Scheme),
		Bucket:  u.Host,
		Key:     strings.TrimPrefix(u.Path, "/"),
		Options: u.RawQuery,
	}, nil
}

// String is the URL as the batch records and shows it.
func (l Location) String() string {
	s := l.Scheme + "://" + l.Bucket + "/" + l.Key
	if l.Options != "" {
		s += "?" + l.Options
	}
	return s
}

// bucketURL is the URL gocloud.dev opens the bucket with. An S3 bucket
// reached through a custom endpoint is addressed path-style (endpoint/
// bucket/key) unless its options say otherwise: S3-compatible servers
// (MinIO, R2, versitygw) serve buckets under one host name, where S3's
// default of a host name per bucket would resolve to nowhere.
func (l Location) bucketURL(getenv func(string) string) string {
	s := l.Scheme + "://" + l.Bucket
	opts := l.Options
	if l.Scheme == "s3" && customEndpoint(opts, getenv) && !hasOption(opts, "use_path_style", "s3ForcePathStyle") {
		if opts != "" {
			opts += "&"
		}
		opts += "use_path_style=true"
	}
	// The SDK checks a GET's checksum only when the object was stored
	// with one, and otherwise logs a line to stderr for every read; our
	// own uploads carry none (their SHA-256, which verify checks, is in
	// the object's metadata), nor do most S3-compatible services'. Unless
	// the URL or the environment says otherwise, it checks them when the
	// request asks, which ours never do.
	if l.Scheme == "s3" && !hasOption(opts, "response_checksum_validation") && getenv("AWS_RESPONSE_CHECKSUM_VALIDATION") == "" {
		if opts != "" {
			opts += "&"
		}
		opts += "response_checksum_validation=when_required"
	}
	if opts != "" {
		s += "?" + opts
	}
	return s
}

// customEndpoint reports whether an S3 bucket is reached elsewhere than at
// AWS: an endpoint option in its URL, or the AWS SDK's standard variables
// for one (AWS_ENDPOINT_URL_S3 for S3 alone, AWS_ENDPOINT_URL for every
// service), which the SDK itself reads unless told to ignore them.
func customEndpoint(opts string, getenv func(string) string) bool {
	if hasOption(opts, "endpoint") {
		return true
	}
	if strings.EqualFold(getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		return false
	}
	return getenv("AWS_ENDPOINT_URL_S3") != "" || getenv("AWS_ENDPOINT_URL") != ""
}

// hasOption reports whether the raw query opts sets any of names.
func hasOption(opts string, names ...string) bool {
	q, err := url.ParseQuery(opts)
	if err != nil {
		return false // the driver will refuse the options itself
	}
	for _, n := range names {
		if q.Has(n) {
			return true
		}
	}
	return false
}

// Join is the object name under the prefix l names.
func (l Location) Join(name string) Location {
	k := strings.TrimSuffix(l.Key, "/")
	if k != "" {
		k += "/"
	}
	l.Key = k + strings.TrimPrefix(name, "/")
	return l
}

func schemeList() string {
	parts := make([]string, len(Schemes))
	for i, s := range Schemes {
		parts[i] = s + "://bucket/key"
	}
	return strings.Join(parts, ", ")
}
