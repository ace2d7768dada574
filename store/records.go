package store

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The records of what a batch put in buckets (the inputs it staged, the
// copies it synced) are JSON values in a bbolt bucket of their own, keyed
// by the object's bucket URL. putRecord and getRecord are their one way in
// and out, so that both kinds share the store's write path (enterWrite,
// the batched transaction) and its reading of a damaged value.

// putRecord durably records v under object in bucket; what names the
// record kind in errors ("record staged"). It shares a transaction with
// concurrent writes, as Put does.
func (s *Store) putRecord(ctx context.Context, bucket []byte, what, object string, v any) error {
	if object == "" {
		return fmt.Errorf("store: %s: empty object name", what)
	}
	if err := s.enterWrite(ctx); err != nil {
		return fmt.Errorf("store: %s %s: %w", what, object, err)
	}
	defer s.mu.RUnlock()
	s.writes.Add(1)
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: %s %s: %w", what, object, err)
	}
	err = s.batch(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(object), data)
	})
	if err != nil {
		return fmt.Errorf("store: %s %s: %w: %w", what, object, ErrWrite, err)
	}
	return nil
}
