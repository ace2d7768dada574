package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// unclaimedChunk is how many unclaimed jobs Unclaimed decodes in one read
// transaction before it hands them to its caller. It bounds the memory
// Unclaimed holds (a trimmed manifest can leave a million orphans) and how
// long a read transaction keeps writers from growing the file.
const unclaimedChunk = 256

// Unclaimed calls fn, in key order, with every job whose key claimed
// rejects: after a run has read its whole manifest, the jobs no row claims
// (orphans). claimed sees only the key, so the claimed jobs — normally all
// of them — are never decoded. claimed runs inside a read transaction and
// must not call the store; fn runs outside any, a chunk at a time, so it
// may write to the store. Unclaimed stops at ctx's end or fn's first error,
// which it returns unwrapped.
func (s *Store) Unclaimed(ctx context.Context, claimed func(key []byte) bool, fn func(Job) error) error {
	var after []byte // last key handed to fn; nil before the first chunk
	for {
		chunk, err := s.unclaimedChunk(ctx, after, claimed)
		if err != nil {
			return fmt.Errorf("store: unclaimed: %w", err)
		}
		for _, j := range chunk {
			if err := fn(j); err != nil {
				return err
			}
		}
		if len(chunk) < unclaimedChunk {
			return nil
		}
		after = []byte(chunk[len(chunk)-1].Key)
	}
}

// unclaimedChunk decodes up to unclaimedChunk unclaimed jobs after the key
// after (from the first key when after is nil).
func (s *Store) unclaimedChunk(ctx context.Context, after []byte, claimed func([]byte) bool) ([]Job, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var chunk []Job
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.First()
		if after != nil {
			k, v = c.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for n := 0; k != nil; k, v = c.Next() {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if claimed(k) {
				continue
			}
			var j Job
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("decode %q: %w", k, err)
			}
			if chunk = append(chunk, j); len(chunk) == unclaimedChunk {
				return nil
			}
		}
		return ctx.Err()
	})
	return chunk, err
}

// SetOrphan durably sets Job.Orphan to orphan on the jobs stored under
// keys, in one transaction shared with concurrent writes, writing only the
// records whose flag changes; keys with no job are skipped. Callers pass a
// chunk at a time (Unclaimed's), not a million keys.
func (s *Store) SetOrphan(ctx context.Context, keys []string, orphan bool) error {
	if err := s.enterWrite(ctx); err != nil {
		return fmt.Errorf("store: set orphan: %w", err)
	}
	defer s.mu.RUnlock()
	s.writes.Add(1)
	now := s.now().UTC()
	err := s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		for _, key := range keys {
			v := b.Get([]byte(key))
			if v == nil {
				continue
			}
			var j Job
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("decode %q: %w", key, err)
			}
			if j.Orphan == orphan {
				continue
			}
			j.Orphan, j.UpdatedAt = orphan, now
			data, err := json.Marshal(j)
			if err != nil {
				return fmt.Errorf("encode %q: %w", key, err)
			}
			if err := b.Put([]byte(key), data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set orphan: %w", err)
	}
	return nil
}
