package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// SetMeta durably stores a small string about the batch (model, manifest
// path, ...). The key "schema_version" is reserved.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if key == "" || key == metaSchemaVersion {
		return fmt.Errorf("store: set meta %q: key is reserved or empty", key)
	}
	if err := s.enterWrite(ctx); err != nil {
		return fmt.Errorf("store: set meta %q: %w", key, err)
	}
	defer s.mu.RUnlock()

	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(key), []byte(value))
	})
	if err != nil {
		return fmt.Errorf("store: set meta %q: %w: %w", key, ErrWrite, err)
	}
	return nil
}

// Meta returns the value SetMeta stored under key, or "" if unset.
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("store: meta %q: %w", key, err)
	}
	if err := s.enter(); err != nil {
		return "", fmt.Errorf("store: meta %q: %w", key, err)
	}
	defer s.mu.RUnlock()

	var value string
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil {
			value = string(b.Get([]byte(key)))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store: meta %q: %w", key, err)
	}
	return value, nil
}

// markPrefix keeps SetMark's keys apart from SetMeta's.
const markPrefix = "mark:"

// SetMark durably stores value under key together with the store's write
// generation, so that Mark can later tell whether anything has been written
// since. A caller that derives a file from the store (the results index)
// marks it when written, and skips rewriting it while nothing changed.
func (s *Store) SetMark(ctx context.Context, key, value string) error {
	if key == "" {
		return errors.New("store: set mark: empty key")
	}
	if err := s.enterWrite(ctx); err != nil {
		return fmt.Errorf("store: set mark %q: %w", key, err)
	}
	defer s.mu.RUnlock()

	err := s.db.Update(func(tx *bolt.Tx) error {
		// tx.ID() is the generation this transaction commits as: after it,
		// a reader sees exactly this ID until the next write.
		stamped := strconv.FormatUint(uint64(tx.ID()), 10) + " " + value
		return tx.Bucket(bucketMeta).Put([]byte(markPrefix+key), []byte(stamped))
	})
	if err != nil {
		return fmt.Errorf("store: set mark %q: %w: %w", key, ErrWrite, err)
	}
	return nil
}

// Mark returns the value SetMark stored under key ("" if none) and whether
// nothing at all has been written to the store since.
func (s *Store) Mark(ctx context.Context, key string) (value string, unchanged bool, err error) {
	if err := ctx.Err(); err != nil {
		return "", false, fmt.Errorf("store: mark %q: %w", key, err)
	}
	if err := s.enter(); err != nil {
		return "", false, fmt.Errorf("store: mark %q: %w", key, err)
	}
	defer s.mu.RUnlock()

	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if b == nil {
			return nil
		}
		raw := b.Get([]byte(markPrefix + key))
		gen, v, ok := strings.Cut(string(raw), " ")
		if !ok {
			return nil
		}
		value = v
		unchanged = gen == strconv.FormatUint(uint64(tx.ID()), 10)
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("store: mark %q: %w", key, err)
	}
	return value, unchanged, nil
}
