package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
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
	if object == "" {
		return errors.New("store: record staged: empty object name")
	}
	if err := s.enterWrite(ctx); err != nil {
		return fmt.Errorf("store: record staged %s: %w", object, err)
	}
	defer s.mu.RUnlock()
	s.writes.Add(1)
	if st.At.IsZero() {
		st.At = s.now().UTC()
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("store: record staged %s: %w", object, err)
	}
	err = s.batch(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketStaged)
		if err != nil {
			return err
		}
		return b.Put([]byte(object), data)
	})
	if err != nil {
		return fmt.Errorf("store: record staged %s: %w: %w", object, ErrWrite, err)
	}
	return nil
}

// StagedObject returns the record of object, and false if none was made.
func (s *Store) StagedObject(ctx context.Context, object string) (Staged, bool, error) {
	if err := ctx.Err(); err != nil {
		return Staged{}, false, fmt.Errorf("store: staged %s: %w", object, err)
	}
	if err := s.enter(); err != nil {
		return Staged{}, false, fmt.Errorf("store: staged %s: %w", object, err)
	}
	defer s.mu.RUnlock()
	var raw []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketStaged); b != nil {
			raw = bytes.Clone(b.Get([]byte(object))) // valid only inside the transaction
		}
		return nil
	})
	if err != nil {
		return Staged{}, false, fmt.Errorf("store: staged %s: %w", object, err)
	}
	if raw == nil {
		return Staged{}, false, nil
	}
	var st Staged
	if err := json.Unmarshal(raw, &st); err != nil {
		return Staged{}, false, fmt.Errorf("store: staged %s: %w: %w", object, ErrDamaged, err)
	}
	return st, true, nil
}
