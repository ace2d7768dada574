package store

import (
	"context"
	"errors"
	"time"
)

// bucketStaged holds the local input files a batch uploaded to a bucket
// for the API to fetch, one record per object, keyed by the object's
// bucket URL (prefix/<sha256>.<ext>: the name says the content). It is
// created by the first upload recorded, so a batch that stages nothing
// has none, and a state file written before it existed reads as "nothing
// staged yet".
var bucketStaged = []byte("staged")

// Staged is the record of one local file uploaded for the API to fetch:
// which content the object holds, so that a later run, or a re-send,
// uploads nothing again. It holds no pre-signed URL (those are made
// afresh before each submit) and never the file's bytes.
type Staged struct {
	Path   string    `json:"path"` // the file as the manifest named it
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"` // hex
	At     time.Time `json:"at"`
}

// RecordStaged durably records that the object named object (a bucket
// URL, never a pre-signed one) holds st. It shares a transaction with
// concurrent writes, as Put does.
func (s *Store) RecordStaged(ctx context.Context, object string, st Staged) error {
	if st.At.IsZero() {
		st.At = s.now().UTC()
	}
	return s.putRecord(ctx, bucketStaged, "record staged", object, st)
}

// StagedObject returns the record of object, and false if none was made.
func (s *Store) StagedObject(ctx context.Context, object string) (Staged, bool, error) {
	st, err := getRecord[Staged](ctx, s, bucketStaged, "staged", object)
	if errors.Is(err, ErrNotFound) {
		return Staged{}, false, nil
	}
	return st, err == nil, err
}
