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

// bucketSynced holds the copies of a batch's files in cloud buckets, one
// record per object, keyed by the object's bucket URL. It is created by the
// first upload recorded, so a batch that never syncs has none, and a state
// file written before it existed reads as "nothing copied yet".
var bucketSynced = []byte("synced")

// Copy is the record of one file uploaded to a bucket: what was sent, so
// that a later run sends nothing twice and verify can check the object.
type Copy struct {
	Path   string    `json:"path"` // the file, relative to the output folder
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"` // hex, as the object's metadata holds it
	At     time.Time `json:"at"`
}

// unsyncedChunk is how many done jobs Unsynced decodes in one read
// transaction before handing their files to its caller; it bounds the
// memory a sweep over a million done jobs holds.
const unsyncedChunk = 256

// RecordCopy durably records that the object named object (a bucket URL,
// never a pre-signed one) holds c. It shares a transaction with
// concurrent writes, as Put does.
func (s *Store) RecordCopy(ctx context.Context, object string, c Copy) error {
	if c.At.IsZero() {
		c.At = s.now().UTC()
	}
	return s.putRecord(ctx, bucketSynced, "record copy", object, c)
}

// ForgetCopy drops the record of object, so that the next sync uploads its
// file again: verify found the object missing or different. Forgetting an
// object never recorded is not an error.
func (s *Store) ForgetCopy(ctx context.Context, object string) error {
	if err := s.enterWrite(ctx); err != nil {
		return fmt.Errorf("store: forget copy %s: %w", object, err)
	}
	defer s.mu.RUnlock()
	s.writes.Add(1)
	err := s.batch(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketSynced); b != nil {
			return b.Delete([]byte(object))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: forget copy %s: %w: %w", object, ErrWrite, err)
	}
	return nil
}

// CopyOf returns the record of object; ok is false when none was made.
func (s *Store) CopyOf(ctx context.Context, object string) (c Copy, ok bool, err error) {
	c, err = getRecord[Copy](ctx, s, bucketSynced, "copy of", object)
	if errors.Is(err, ErrNotFound) {
		return Copy{}, false, nil
	}
	return c, err == nil, err
}

// ForEachCopy calls fn with every recorded copy whose object name starts
// with prefix, in name order, inside one read transaction; fn must not
// call the store. fn's first error stops it and is returned unwrapped.
func (s *Store) ForEachCopy(ctx context.Context, prefix string, fn func(object string, c Copy) error) error {
	if err := s.enter(); err != nil {
		return fmt.Errorf("store: for each copy: %w", err)
	}
	defer s.mu.RUnlock()
	var fnErr error
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSynced)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var rec Copy
			if err := decodeRecord(k, v, &rec); err != nil {
				return err
			}
			if fnErr = fn(string(k), rec); fnErr != nil {
				return fnErr
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("store: for each copy: %w", err)
	}
	return nil
}

// Unsynced calls fn, in key order, with every done job that has a file
// whose object (objectOf names it from the file's path) holds no recorded
// copy of the file's size and SHA-256, and with those files. objectOf runs
// inside a read transaction and must not call the store; fn runs outside
// any, a chunk at a time, so it may record copies. Unsynced stops at ctx's
// end or fn's first error, which it returns unwrapped.
func (s *Store) Unsynced(ctx context.Context, objectOf func(path string) string, fn func(key string, files []Output) error) error {
	var after []byte
	for {
		chunk, last, err := s.unsyncedChunk(ctx, after, objectOf)
		if err != nil {
			return fmt.Errorf("store: unsynced: %w", err)
		}
		for _, j := range chunk {
			if err := fn(j.Key, j.Outputs); err != nil {
				return err
			}
		}
		if last == nil {
			return nil
		}
		after = last
	}
}

// unsyncedChunk decodes up to unsyncedChunk done jobs after the key after,
// and returns those with a file not copied yet (only those files), and
// the last key it read (nil at the end of the jobs).
func (s *Store) unsyncedChunk(ctx context.Context, after []byte, objectOf func(string) string) ([]Job, []byte, error) {
	if err := s.enter(); err != nil {
		return nil, nil, err
	}
	defer s.mu.RUnlock()
	var chunk []Job
	var last []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		jobs, copies := tx.Bucket(bucketJobs), tx.Bucket(bucketSynced)
		if jobs == nil {
			return nil
		}
		c := jobs.Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for n := 0; k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if b, err := readBrief(v); err != nil || b.State != StateDone {
				continue // a record that does not decode is the run's to report
			}
			var j Job
			if err := decodeRecord(k, v, &j); err != nil {
				return err
			}
			if j.Outputs = uncopied(copies, j.Outputs, objectOf); len(j.Outputs) > 0 {
				chunk = append(chunk, j)
			}
			if n++; n == unsyncedChunk {
				last = append([]byte(nil), k...)
				return nil
			}
		}
		return nil
	})
	return chunk, last, err
}

// uncopied returns the files of outs that copies (nil: none recorded)
// holds no record of with their size and digest.
func uncopied(copies *bolt.Bucket, outs []Output, objectOf func(string) string) []Output {
	var left []Output
	for _, o := range outs {
		if o.Path == "" {
			continue
		}
		if copies != nil {
			if v := copies.Get([]byte(objectOf(o.Path))); v != nil {
				var c Copy
				if json.Unmarshal(v, &c) == nil && c.Size == o.Size && c.SHA256 == o.SHA256 {
					continue
				}
			}
		}
		left = append(left, o)
	}
	return left
}
