package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

const (
	// schemaVersion is the layout this package writes. Bump it, and teach
	// Open to migrate, when a change would mislead an older pikabatch.
	schemaVersion = 1

	defaultLockTimeout = 200 * time.Millisecond

	// maxBatchDelay is how long a write waits for others to share its
	// transaction. An fsync costs about as much on a local SSD and far more on
	// network disks, and every write sits next to an API call that takes
	// 100 ms or more, so 2 ms of added latency buys coalescing at no visible
	// cost. bbolt's default (10 ms) would slow a single writer for nothing.
	maxBatchDelay = 2 * time.Millisecond

	// maxBatchSize caps the writes in one transaction. A batch commits as soon
	// as it is full, and bbolt re-runs the whole batch when one call in it
	// fails (an Update of a missing key, say), so the cap bounds both the
	// transaction (~1 MB of JSON) and the work redone. 1000 is above any
	// sensible worker count, so under normal load the delay closes batches.
	maxBatchSize = 1000

	// initialMmapSize is mapped up front so that the file (a few MB for ten
	// thousand jobs) rarely needs a remap, which would make a writer wait for
	// every open read transaction. It is address space, not disk or memory.
	initialMmapSize = 64 << 20

	// pageSize is the page size of a new state file (an existing one keeps
	// its own). bbolt remembers which transaction allocated each page it
	// has written since it opened the file, in a map it never shrinks for
	// pages still in use: about 70 bytes of heap per page, the one thing
	// that grew with the batch in a million-row run (10 MB of 40 MB live).
	// 16 KiB pages hold a quarter of the pages of 4 KiB ones.
	pageSize = 16 << 10

	// minGrowth and maxGrowth bound the step the file grows by when a
	// commit needs more pages (see growthFor). bbolt's own step, 16 MiB
	// whenever the mapping is larger than that (and initialMmapSize makes
	// it so), made the state file of an 8-job batch 16 MB.
	minGrowth = 128 << 10
	maxGrowth = 16 << 20

	metaSchemaVersion = "schema_version"
)

// growthFor is the step a file of size bytes grows by: a quarter of it,
// between minGrowth and maxGrowth. Each step costs a truncate and an fsync,
// so a file grows geometrically, in a few dozen steps to 64 MiB and then
// in bbolt's 16 MiB ones as before, while a small batch's file stays a few
// hundred kilobytes.
func growthFor(size int64) int64 {
	return min(max(size/4, minGrowth), maxGrowth)
}

// setGrowth sets the growth step of tx's file from its size. It runs inside
// a write transaction, where bbolt reads the step, so writers never race
// on it.
func setGrowth(tx *bolt.Tx) {
	tx.DB().AllocSize = int(growthFor(tx.Size()))
}

var (
	bucketJobs = []byte("jobs")
	bucketMeta = []byte("meta")
)

// Stats counts writes for benchmarks and reports, so that "fsyncs per job"
// can be shown.
type Stats struct {
	Writes  int64 // Put and Update calls made while open and writable
	Commits int64 // committed (and fsynced) transactions that carried them
}

// Store is the checkpoint store. Its methods are safe for concurrent use.
type Store struct {
	path     string
	db       *bolt.DB
	readOnly bool
	now      func() time.Time

	// mu is held shared by every operation and exclusively by Close, so Close
	// waits for the writes in flight instead of failing them.
	mu     sync.RWMutex
	closed bool

	// journaled are the recovery journal's entries applied by Open.
	journaled []JournalEntry
	// journalRefused are the journal lines Open did not apply, and
	// journalAside the file the journal was kept as.
	journalRefused []*JournalLineError
	journalAside   string
	// batchID is the batch's identity, recorded at first writable Open
	// (BatchID).
	batchID string

	writes  atomic.Int64
	commits atomic.Int64
	// compactMinBytes is the smallest file Compact rewrites.
	compactMinBytes int64
	// syncDir fsyncs a directory; tests make it fail.
	syncDir func(dir string) error
	// compactReached, when set, is called at each step of Compact, so that
	// a test can kill the process there.
	compactReached func(step string)

	// hooked is the last write transaction given a commit counter. bbolt's
	// Batch runs many calls in one transaction and re-runs them in a new one
	// after a failure; counting per transaction, not per call, is what
	// makes Commits mean fsyncs.
	hooked atomic.Pointer[bolt.Tx]
}

// Open opens the state file at path, creating it (but not its directory) if
// needed, and takes its lock. If another Store holds the lock, in this
// process or another, Open returns a *LockedError after Options.LockTimeout.
// A file with a newer schema fails with ErrSchemaTooNew, a foreign bbolt file
// with ErrNotStateFile.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	switch {
	case timeout == 0:
		timeout = defaultLockTimeout
	case timeout < 0:
		timeout = time.Nanosecond // bbolt treats 0 as "wait forever"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Owner.PID == 0 {
		opts.Owner = CurrentOwner(opts.Owner.Command)
	}

	existed, err := precheck(path)
	if err != nil && existed {
		// A writer's commit in progress can look like damage: judge the
		// file again while no writer can hold it.
		unlock, ok, lerr := lockShared(path)
		if lerr != nil {
			return nil, fmt.Errorf("store: open %s: %w", path, lerr)
		}
		if !ok {
			return nil, &LockedError{Path: path, Owner: readOwner(path)}
		}
		existed, err = precheck(path)
		unlock()
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !existed && opts.ReadOnly {
		return nil, fmt.Errorf("store: open %s: %w", path, fs.ErrNotExist)
	}
	db, err := openLocked(path, timeout, opts.ReadOnly)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, &LockedError{Path: path, Owner: readOwner(path)}
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if existed {
		// Checked under the lock: nobody writes the file meanwhile.
		if err := checkTree(path, db); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
	}
	db.MaxBatchDelay = maxBatchDelay
	db.MaxBatchSize = maxBatchSize
	// Before any write sets it from the file's size (setGrowth): the
	// writes that come first (the owner, the schema) are small.
	db.AllocSize = minGrowth

	s := &Store{path: path, db: db, readOnly: opts.ReadOnly, now: opts.Now, compactMinBytes: compactMinBytes, syncDir: syncDir}
	if err := s.init(opts.Owner, opts.BatchID); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// openLocked opens the bbolt file at path and takes its lock, waiting up to
// timeout for it. Compact replaces the file by renaming a new one over it
// while the old one is still locked, so an Open that was waiting for that
// lock gets a file no longer at path: the path is looked up before and
// after, and a file that changed meanwhile is opened again.
func openLocked(path string, timeout time.Duration, readOnly bool) (*bolt.DB, error) {
	return openLockedStat(path, timeout, readOnly, os.Stat)
}

// openLockedStat is openLocked looking the path up with stat. A file that
// is still replaced after a few attempts is given up on as locked: the
// one locked is not the one at the path, and writes to it would be lost.
func openLockedStat(path string, timeout time.Duration, readOnly bool, stat func(string) (os.FileInfo, error)) (*bolt.DB, error) {
	for attempt := 0; ; attempt++ {
		before, statErr := stat(path)
		var db *bolt.DB
		// bbolt reads the free list while opening for writing; a corrupt one
		// panics there. (The file handle is then lost until the process exits,
		// which it is about to: the file is refused.)
		err := guard(path, func() error {
			var err error
			db, err = bolt.Open(path, 0o600, &bolt.Options{
				Timeout:         timeout,
				ReadOnly:        readOnly,
				FreelistType:    bolt.FreelistMapType,
				InitialMmapSize: initialMmapSize,
				PageSize:        pageSize,
				// A FIFO put at the path since precheck must not block.
				OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
					return OpenRegular(name, flag, perm)
				},
			})
			return err
		})
		if err != nil {
			return nil, err
		}
		after, err := stat(path)
		if err != nil || statErr != nil || os.SameFile(before, after) {
			return db, nil
		}
		_ = db.Close()
		if attempt >= 3 {
			return nil, berrors.ErrTimeout
		}
	}
}

// init checks the schema, creates the buckets of a new file and records the
// owner.
func (s *Store) init(owner Owner, givenBatch string) error {
	var fresh bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		fresh, err = checkSchema(tx)
		return err
	}); err != nil {
		return err
	}
	batchID, err := s.readBatchID()
	if err != nil {
		return err
	}
	s.batchID = batchID
	if batchID == "" && !s.readOnly {
		s.batchID = givenBatch
	}
	if s.readOnly {
		return nil // a fresh file reads as empty
	}
	if fresh {
		if err := s.db.Update(func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(bucketJobs); err != nil {
				return err
			}
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			return meta.Put([]byte(metaSchemaVersion), []byte(strconv.Itoa(schemaVersion)))
		}); err != nil {
			return fmt.Errorf("create buckets: %w", err)
		}
	}
	// The file's directory entry must be durable before any request ID in
	// it is relied on. Syncing on every writable Open, not only on creation,
	// also covers a file created by a run that died before syncing it.
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	if err := writeOwner(s.path, owner); err != nil {
		return fmt.Errorf("write owner file: %w", err)
	}
	// A compaction that died leaves its copy, as large as the state, and
	// only the lock holder compacts: it is ours to remove.
	if target, err := filepath.EvalSymlinks(s.path); err == nil {
		_ = os.Remove(compactPath(target))
	}
	// Request IDs an earlier run could not record come first: planning must
	// see them, or their rows would be paid for again.
	applied, err := s.applyJournal(context.Background())
	if err != nil {
		_ = os.Remove(ownerPath(s.path))
		return err
	}
	s.journaled = applied
	if batchID == "" {
		return s.recordBatchID()
	}
	return nil
}

// checkSchema reports whether the file is fresh (no buckets yet: new, or
// created by a run that died before its first commit) and refuses files it
// can't safely write.
func checkSchema(tx *bolt.Tx) (fresh bool, err error) {
	var raw []byte
	if meta := tx.Bucket(bucketMeta); meta != nil {
		raw = meta.Get([]byte(metaSchemaVersion))
	}
	if raw == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error {
			empty = false
			return nil
		})
		if !empty {
			return false, fmt.Errorf("%w: no schema version", ErrNotStateFile)
		}
		return true, nil
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return false, fmt.Errorf("%w: schema version %q", ErrNotStateFile, raw)
	}
	if v > schemaVersion {
		return false, fmt.Errorf("%w: schema version %d, this build reads up to %d; upgrade pikabatch",
			ErrSchemaTooNew, v, schemaVersion)
	}
	return false, nil
}

// Path returns the state file's path as given to Open.
func (s *Store) Path() string { return s.path }

// enter starts an operation; the caller must call s.mu.RUnlock when it
// returns nil.
func (s *Store) enter() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// enterWrite is enter for writes: it also checks ctx, which is the last point
// at which a write may be abandoned; once handed to bbolt it completes.
func (s *Store) enterWrite(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	if s.readOnly {
		s.mu.RUnlock()
		return ErrReadOnly
	}
	return nil
}

// Get returns the job stored under key, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (Job, error) {
	return getRecord[Job](ctx, s, bucketJobs, "get", key)
}

// Settled is the part of a job that tells a plan it is done with its files
// in place: no input, kept columns, error text, counters or times. Those
// are most of what decoding a record costs, and a re-run of a finished
// million-row batch decodes one for every row. It is for reading only:
// write back only a Job read whole.
type Settled struct {
	Key       string   `json:"key"`
	State     State    `json:"state"`
	Orphan    bool     `json:"orphan"`
	ParamHash string   `json:"param_hash"`
	RequestID string   `json:"request_id"`
	Outputs   []Output `json:"outputs"`
}

// GetSettled returns the Settled part of the job recorded under key, or an
// error matching ErrNotFound when there is none.
func (s *Store) GetSettled(ctx context.Context, key string) (Settled, error) {
	return getRecord[Settled](ctx, s, bucketJobs, "get settled", key)
}

// getRecord decodes the record under key in bucket into a T, or fails
// with ErrNotFound when there is none.
func getRecord[T any](ctx context.Context, s *Store, bucket []byte, op, key string) (T, error) {
	var rec T
	if err := ctx.Err(); err != nil {
		return rec, fmt.Errorf("store: %s %q: %w", op, key, err)
	}
	if err := s.enter(); err != nil {
		return rec, fmt.Errorf("store: %s %q: %w", op, key, err)
	}
	defer s.mu.RUnlock()

	err := s.db.View(func(tx *bolt.Tx) error {
		var v []byte
		if b := tx.Bucket(bucket); b != nil {
			v = b.Get([]byte(key))
		}
		if v == nil {
			return ErrNotFound
		}
		// Unmarshal copies: v is only valid inside the transaction.
		return decodeRecord([]byte(key), v, &rec)
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf("store: %s %q: %w", op, key, err)
	}
	return rec, nil
}

// Put durably writes job under job.Key, replacing any stored record, and sets
// UpdatedAt (and CreatedAt when zero). Concurrent callers are coalesced into
// one bbolt transaction (db.Batch), and Put returns only after the commit is
// fsynced, so a caller that Put a request ID can rely on it surviving a
// crash.
//
// Put is idempotent. It fails with ErrInvalidJob for a job the store must not
// hold and with ErrRequestIDChange if it would lose a live job's request ID.
// A cancelled ctx stops Put only before it starts writing.
func (s *Store) Put(ctx context.Context, job Job) error {
	if err := s.enterWrite(ctx); err != nil {
		return fmt.Errorf("store: put %q: %w", job.Key, err)
	}
	defer s.mu.RUnlock()
	s.writes.Add(1)

	now := s.now().UTC()
	job.UpdatedAt = now
	if job.CreatedAt.IsZero() {
		job.CreatedAt = now
	}
	if err := job.validate(); err != nil {
		return fmt.Errorf("store: put %q: %w", job.Key, err)
	}
	job.lean()
	data, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("store: put %q: %w", job.Key, err)
	}
	// A refused write returns nil to Batch, with its error kept aside: an
	// error would make bbolt roll back and re-run every other write in the
	// batch. Nothing was written for this call, so committing is right.
	key := []byte(job.Key)
	var refused error
	err = s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		if refused = checkReplace(b.Get(key), &job); refused != nil {
			return nil
		}
		return b.Put(key, data)
	})
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrWrite, err)
	} else {
		err = refused
	}
	if err != nil {
		return fmt.Errorf("store: put %q: %w", job.Key, err)
	}
	return nil
}

// checkReplace decides whether job may replace the stored record old (nil if
// none).
func checkReplace(old []byte, job *Job) error {
	if old == nil {
		return nil
	}
	var prev storedID
	if err := json.Unmarshal(old, &prev); err != nil {
		return fmt.Errorf("%w: decode stored job: %w", ErrDamaged, err)
	}
	return checkRequestID(prev, job)
}

// Update reads the job stored under key (ErrNotFound if absent), applies fn,
// sets UpdatedAt and writes it back in the same transaction, batched and
// fsynced like Put. It returns the job as stored.
//
// fn may be called more than once, each time with a fresh copy of the stored
// job (Batch re-runs a transaction when another call in it fails), so it must
// have no effect beyond its argument. If fn returns an error nothing is
// written and Update returns it wrapped. fn must not call back into the store
// or change the key. Update fails like Put on an invalid result.
func (s *Store) Update(ctx context.Context, key string, fn func(*Job) error) (Job, error) {
	if err := s.enterWrite(ctx); err != nil {
		return Job{}, fmt.Errorf("store: update %q: %w", key, err)
	}
	defer s.mu.RUnlock()
	s.writes.Add(1)

	now := s.now().UTC()
	bkey := []byte(key)
	var data []byte // set by the run that commits
	var refused error
	err := s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		// As in Put, a refused update must not fail the batch it shares.
		if data, refused = applyUpdate(b.Get(bkey), key, now, fn); refused != nil {
			return nil
		}
		return b.Put(bkey, data)
	})
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrWrite, err)
	} else {
		err = refused
	}
	if err != nil {
		return Job{}, fmt.Errorf("store: update %q: %w", key, err)
	}
	var job Job
	if err := json.Unmarshal(data, &job); err != nil {
		return Job{}, fmt.Errorf("store: update %q: %w", key, err)
	}
	return job, nil
}

// applyUpdate returns the record that Update writes over old (nil if none).
func applyUpdate(old []byte, key string, now time.Time, fn func(*Job) error) ([]byte, error) {
	if old == nil {
		return nil, ErrNotFound
	}
	var job Job
	if err := json.Unmarshal(old, &job); err != nil {
		return nil, fmt.Errorf("%w: decode stored job: %w", ErrDamaged, err)
	}
	prev := storedID{State: job.State, RequestID: job.RequestID}
	if err := fn(&job); err != nil {
		return nil, err
	}
	if job.Key != key {
		return nil, fmt.Errorf("%w: update changed the key to %q", ErrInvalidJob, job.Key)
	}
	job.UpdatedAt = now
	if err := job.validate(); err != nil {
		return nil, err
	}
	if err := checkRequestID(prev, &job); err != nil {
		return nil, err
	}
	job.lean()
	return json.Marshal(job)
}

// batch runs fn in a shared write transaction and counts the commit once per
// transaction.
func (s *Store) batch(fn func(*bolt.Tx) error) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		// Write transactions are serialised, and the stored pointer keeps the
		// previous one alive, so a new transaction can't share its address.
		if s.hooked.Swap(tx) != tx {
			tx.OnCommit(func() { s.commits.Add(1) })
			setGrowth(tx)
		}
		return fn(tx)
	})
}

// ForEach calls fn for every job in key order inside one read transaction,
// and stops at the first error fn returns, returning it unwrapped. fn must not
// call back into the store: a write waiting for the transaction to end would
// deadlock. Keep fn short, as a long read can hold up writers that need to
// grow the file.
func (s *Store) ForEach(ctx context.Context, fn func(Job) error) error {
	if err := s.enter(); err != nil {
		return fmt.Errorf("store: for each: %w", err)
	}
	defer s.mu.RUnlock()

	var fnErr error
	err := s.db.View(func(tx *bolt.Tx) error {
		return scanJobs(ctx, tx, func(job *Job) error {
			if err := fn(*job); err != nil {
				fnErr = err
				return err
			}
			return nil
		})
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("store: for each: %w", err)
	}
	return nil
}

// ForEachBrief calls brief for every job in key order with its key (valid
// only during the call) and its Brief, read without decoding the record;
// when brief returns true, fn is called with the whole job. It is ForEach
// for callers that need most jobs only counted: status over a million done
// jobs decodes none of them. fn's first error stops it and is returned
// unwrapped; brief and fn must not call back into the store.
func (s *Store) ForEachBrief(ctx context.Context, brief func(key []byte, b Brief) bool, fn func(Job) error) error {
	if err := s.enter(); err != nil {
		return fmt.Errorf("store: for each brief: %w", err)
	}
	defer s.mu.RUnlock()

	var fnErr error
	err := s.db.View(func(tx *bolt.Tx) error {
		return scanRecords(ctx, tx, func(k, v []byte) error {
			br, err := readBrief(v)
			if err != nil {
				return fmt.Errorf("%w: record %q does not decode: %w", ErrDamaged, k, err)
			}
			if !brief(k, br) {
				return nil
			}
			var job Job
			if err := json.Unmarshal(v, &job); err != nil {
				return fmt.Errorf("%w: record %q does not decode: %w", ErrDamaged, k, err)
			}
			if err := fn(job); err != nil {
				fnErr = err
				return err
			}
			return nil
		})
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("store: for each brief: %w", err)
	}
	return nil
}

// scanRecords calls fn with every job record's key and raw value (valid
// only during the call) in key order, stopping at the context's end or
// fn's first error.
func scanRecords(ctx context.Context, tx *bolt.Tx, fn func(k, v []byte) error) error {
	b := tx.Bucket(bucketJobs)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Counts returns the number of jobs in each state, with an entry (perhaps 0)
// for every state in AllStates.
func (s *Store) Counts(ctx context.Context) (map[State]int, error) {
	if err := s.enter(); err != nil {
		return nil, fmt.Errorf("store: counts: %w", err)
	}
	defer s.mu.RUnlock()

	counts := make(map[State]int, len(AllStates()))
	for _, st := range AllStates() {
		counts[st] = 0
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		return scanRecords(ctx, tx, func(k, v []byte) error {
			br, err := readBrief(v)
			if err != nil {
				return fmt.Errorf("%w: record %q does not decode: %w", ErrDamaged, k, err)
			}
			counts[br.State]++
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: counts: %w", err)
	}
	return counts, nil
}

// Stats returns the write counters since Open.
func (s *Store) Stats() Stats {
	return Stats{Writes: s.writes.Load(), Commits: s.commits.Load()}
}

// Close waits for the operations in flight, removes the owner file and
// releases the lock. It is safe to call more than once; later calls return
// nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true

	var errs []error
	if !s.readOnly {
		// Before releasing the lock: afterwards the file may be the next
		// holder's.
		if err := os.Remove(ownerPath(s.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove owner file: %w", err))
		}
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}
