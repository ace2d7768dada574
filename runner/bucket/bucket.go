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

// bucketURL is the URL gocloud.dev opens the bucket with.
func (l Location) bucketURL() string {
	s := l.Scheme + "://" + l.Bucket
	if l.Options != "" {
		s += "?" + l.Options
	}
	return s
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
