package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

const (
	// compactMinBytes is the smallest state Compact rewrites (counted up to
	// its last page in use): below it, the bytes saved are not worth it.
	compactMinBytes = 16 << 20

	// compactMinWaste is the share of the file that must hold no record
	// data for Compact to rewrite it. A run leaves about a quarter: records
	// grow 1.6 times after they are first written (pending → rendered),
	// which splits bbolt's pages, and every later one shrinks again (a done
	// job keeps no URL), so pages end about three quarters full. bbolt's
	// FillPercent does not help: measured at 20,000 rows, 0.5 (the
	// default) left leaves 74% full, 0.7 57%, 0.9 73% and 1.0 61%.
	compactMinWaste = 0.2

	// compactTxBytes bounds each transaction of the copy, and so the memory
	// it holds: bbolt keeps a transaction's new pages in the heap (64 MB
	// made a 100,000-row run peak at 250 MB of RssAnon).
	compactTxBytes = 4 << 20

	// metaGenerations counts the write transactions of the files this one
	// replaced: bbolt's transaction ID starts again in a compacted file.
	metaGenerations = "generations_before"

	// staleMark stamps a mark that no transaction ID matches.
	staleMark = "stale"
)

// CompactResult says what Compact did.
type CompactResult struct {
	Before, After int64 // file size in bytes
	Compacted     bool  // false: the file was small or full enough
}

// Compact rewrites the state file with full pages and without free ones
// when it is at least compactMinBytes and a fifth of its pages' bytes hold
// no record data (see compactMinWaste),
// and returns the sizes before and after. A run calls it at its end: a
// million-row state shrinks by about a quarter, and so does every later
// status, export and re-run's reading of it.
//
// The copy is written beside the file, fsynced and renamed over it while
// this Store still holds the old file's lock, so a crash leaves the old
// file or the new one, whole. Operations wait for it. Marks set before
// still say "unchanged" afterwards: compacting writes no job.
func (s *Store) Compact(ctx context.Context) (CompactResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return CompactResult{}, fmt.Errorf("store: compact: %w", ErrClosed)
	case s.readOnly:
		return CompactResult{}, fmt.Errorf("store: compact: %w", ErrReadOnly)
	}
	if err := ctx.Err(); err != nil {
		return CompactResult{}, fmt.Errorf("store: compact: %w", err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return CompactResult{}, fmt.Errorf("store: compact: %w", err)
	}
	res := CompactResult{Before: fi.Size(), After: fi.Size()}
	worth, generation, err := s.worthCompacting()
	if err != nil || !worth {
		return res, err
	}

	// A state file reached through a symlink is replaced where it lives:
	// renaming over the link would leave its target with the older state.
	target, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	dst, err := s.writeCopy(target, fi, generation)
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	// The new file is in place and the old one unlinked: from here on this
	// Store must move to it whatever happens, or its writes would go to a
	// file nobody opens again while the one at the path has no lock.
	syncErr := s.syncDir(filepath.Dir(target))
	dst.MaxBatchDelay = maxBatchDelay
	dst.MaxBatchSize = maxBatchSize
	old := s.db
	s.db = dst
	s.reached("swapped")
	_ = old.Close() // unlinked: nothing more to lose
	if fi, err := os.Stat(s.path); err == nil {
		res.After = fi.Size()
	}
	res.Compacted = true
	if syncErr != nil {
		// Until the directory is synced (the next writable Open does), a
		// power cut may bring the old file back and lose later writes:
		// the caller is told, and the Store is on the new file regardless.
		return res, fmt.Errorf("store: compact: sync directory: %w", syncErr)
	}
	return res, nil
}

// worthCompacting reports whether the open file wastes enough to be
// compacted (see compactMinWaste and compactMinBytes), and the write
// generation its copy must carry.
func (s *Store) worthCompacting() (bool, uint64, error) {
	var inUse, used int64
	var generation uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		generation = uint64(tx.ID())
		// Up to its last page in use, not its size: bbolt grows a file
		// ahead of its pages, by up to 16 MB at a time.
		used = tx.Size()
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			st := b.Stats()
			inUse += int64(st.BranchInuse + st.LeafInuse)
			return nil
		})
	})
	if err != nil {
		return false, 0, fmt.Errorf("store: compact: %w", err)
	}
	if used < s.compactMinBytes || float64(inUse) > (1-compactMinWaste)*float64(used) {
		return false, generation, nil
	}
	return true, generation, nil
}

// writeCopy writes a compacted copy of the open file beside target (fi
// is target's), carrying generation, and renames it over target. On an
// error the copy is gone and target untouched.
func (s *Store) writeCopy(target string, fi os.FileInfo, generation uint64) (*bolt.DB, error) {
	tmp := compactPath(target)
	_ = os.Remove(tmp) // left by a compaction that died
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType, InitialMmapSize: initialMmapSize, PageSize: pageSize})
	if err != nil {
		return nil, err
	}
	// Nobody else writes dst: its step is set once, from the old file.
	dst.AllocSize = int(growthFor(fi.Size()))
	fail := func(err error) (*bolt.DB, error) {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return nil, err
	}
	// The new file is the old one to whoever shares it: same mode, owner.
	if err := sameAccess(tmp, fi); err != nil {
		return fail(err)
	}
	if err := bolt.Compact(dst, s.db, compactTxBytes); err != nil {
		return fail(err)
	}
	s.reached("copied")
	if err := dst.Update(func(tx *bolt.Tx) error { return carryGenerations(tx, generation) }); err != nil {
		return fail(err)
	}
	s.reached("carried")
	if err := os.Rename(tmp, target); err != nil {
		return fail(err)
	}
	s.reached("renamed")
	return dst, nil
}

// compactPath is where Compact writes the copy of the state file at
// target.
func compactPath(target string) string { return target + ".compact" }

// reached tells a test that Compact got to step.
func (s *Store) reached(step string) {
	if s.compactReached != nil {
		s.compactReached(step)
	}
}

// carryGenerations records in a compacted file how many write transactions
// the file it replaces had committed (generation), and stamps the marks
// that were current there with this transaction, so that they stay
// current. The others are stamped stale: the new file's transaction IDs
// start again from a few, and would one day match their old stamp.
func carryGenerations(tx *bolt.Tx, generation uint64) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return errors.New("no meta bucket")
	}
	before, _ := strconv.ParseUint(string(meta.Get([]byte(metaGenerations))), 10, 64)
	if err := meta.Put([]byte(metaGenerations), []byte(strconv.FormatUint(before+generation, 10))); err != nil {
		return err
	}
	was, now := strconv.FormatUint(generation, 10), strconv.FormatUint(uint64(tx.ID()), 10)
	type mark struct{ key, value []byte }
	var restamped []mark
	c := meta.Cursor()
	for k, v := c.Seek([]byte(markPrefix)); k != nil && strings.HasPrefix(string(k), markPrefix); k, v = c.Next() {
		gen, rest, ok := strings.Cut(string(v), " ")
		if !ok {
			continue
		}
		stamp := staleMark
		if gen == was {
			stamp = now
		}
		restamped = append(restamped, mark{key: append([]byte(nil), k...), value: []byte(stamp + " " + rest)})
	}
	for _, m := range restamped {
		if err := meta.Put(m.key, m.value); err != nil {
			return err
		}
	}
	return nil
}
