package store

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
)

// metaBatchID is the meta key of the batch's identity.
const metaBatchID = "batch_id"

// BatchID returns the identity of the batch the state file tracks: random,
// recorded at its first writable Open, and written on every line of its
// recovery journal so that another batch's journal is refused. It is ""
// for a state file opened read-only that never had one.
func (s *Store) BatchID() string { return s.batchID }

// readBatchID reads the recorded identity, "" if none.
func (s *Store) readBatchID() (string, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil {
			id = string(b.Get([]byte(metaBatchID)))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store: read batch identity: %w", err)
	}
	return id, nil
}

// recordBatchID records the identity of a state file without one (new, or
// from before identities): Options.BatchID, else a new one. It runs after
// the journal is applied: a journal naming no batch belongs to a state
// file naming none.
func (s *Store) recordBatchID() error {
	if s.batchID != "" {
		return s.SetMeta(context.Background(), metaBatchID, s.batchID)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("store: batch identity: %w", err)
	}
	id := hex.EncodeToString(b[:])
	if err := s.SetMeta(context.Background(), metaBatchID, id); err != nil {
		return err
	}
	s.batchID = id
	return nil
}

// JournalBatch returns the batch the recovery journal of the state file at
// statePath names on its first readable line: "" when there is no journal,
// or its lines name none. Recover gives it to the state file it rebuilds
// (Options.BatchID), whose journal is then its own.
func JournalBatch(statePath string) (string, error) {
	f, err := os.Open(JournalPath(statePath))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		line, long, err := ReadLine(br, maxJournalLine)
		var e JournalEntry
		if !long && json.Unmarshal(line, &e) == nil && e.Key != "" {
			return e.Batch, nil
		}
		if err != nil {
			return "", nil
		}
	}
}
