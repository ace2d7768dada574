package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// DamagedError is returned by Open for a state file that cannot be trusted:
// empty, truncated, or failing bbolt's checksums or consistency check.
// errors.Is(err, ErrDamaged) holds. Open never writes to such a file, and
// never starts it over: the request IDs it held are what stops a second
// payment for every row.
type DamagedError struct {
	Path   string
	Reason string
}

// Error names the file and what is wrong with it.
func (e *DamagedError) Error() string {
	return fmt.Sprintf("state file %s is damaged: %s", e.Path, e.Reason)
}

// Unwrap returns ErrDamaged.
func (e *DamagedError) Unwrap() error { return ErrDamaged }

func damaged(path, format string, args ...any) error {
	return &DamagedError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// The parts of bbolt's file format (version 2) that precheck reads. bbolt
// validates its meta pages itself, but only fails when both are bad (it
// silently falls back to the older one, losing the last commit), and it
// maps the file without comparing its size with the pages the meta says it
// has: a truncated file then faults (SIGBUS) on first read.
const (
	boltMagic         = 0xED0CDAED
	boltVersion       = 2
	boltPageHeader    = 16 // id, flags, count, overflow
	boltMetaSize      = 64 // magic … txid, then the checksum
	boltMetaSummed    = 56 // bytes the checksum covers
	boltNoFreelist    = ^uint64(0)
	boltMinPageSize   = 512
	boltMaxPageSize   = 1 << 20
	boltInitialPages  = 4 // two metas, a freelist and an empty root leaf
	boltMetaFlag      = 0x04
	boltMetaFlagsOffs = 8
)

// boltMeta is the part of a meta page precheck uses.
type boltMeta struct {
	pageSize uint64
	root     uint64
	freelist uint64
	pgid     uint64 // high-water mark: pages in use
	txid     uint64
}

// readMeta decodes and validates the meta page at buf (one page's start).
func readMeta(buf []byte) (boltMeta, error) {
	if len(buf) < boltPageHeader+boltMetaSize {
		return boltMeta{}, errors.New("short")
	}
	if binary.LittleEndian.Uint16(buf[boltMetaFlagsOffs:])&boltMetaFlag == 0 {
		return boltMeta{}, errors.New("not a meta page")
	}
	m := buf[boltPageHeader : boltPageHeader+boltMetaSize]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic {
		return boltMeta{}, errors.New("no bbolt magic number")
	}
	if v := le.Uint32(m[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("bbolt version %d", v)
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:boltMetaSummed])
	if h.Sum64() != le.Uint64(m[boltMetaSummed:]) {
		return boltMeta{}, errors.New("checksum mismatch")
	}
	meta := boltMeta{
		pageSize: uint64(le.Uint32(m[8:])),
		root:     le.Uint64(m[16:]),
		freelist: le.Uint64(m[32:]),
		pgid:     le.Uint64(m[40:]),
		txid:     le.Uint64(m[48:]),
	}
	if meta.pageSize < boltMinPageSize || meta.pageSize > boltMaxPageSize || meta.pageSize&(meta.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("page size %d", meta.pageSize)
	}
	if meta.root >= meta.pgid || (meta.freelist != boltNoFreelist && meta.freelist >= meta.pgid) || meta.pgid < boltInitialPages-1 {
		return boltMeta{}, errors.New("page numbers out of range")
	}
	return meta, nil
}

// precheck looks at an existing state file before bbolt maps it: exists
// reports whether there is a file at all; a file that is there and not
// whole is a *DamagedError. A missing file is not an error (Open creates
// it); an empty one is, since bbolt would quietly start it over.
func precheck(path string) (exists bool, err error) {
	f, err := OpenRegular(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return true, err
	}
	size := fi.Size()
	if size == 0 {
		return true, damaged(path, "the file is empty (0 bytes)")
	}
	// Meta 0 starts the file; its page size says where meta 1 is. If meta 0
	// is bad, look for meta 1 at each plausible page size, as bbolt does.
	buf := make([]byte, boltPageHeader+boltMetaSize)
	var metas [2]boltMeta
	var errs [2]error
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return true, err
	}
	metas[0], errs[0] = readMeta(buf)
	sizes := []uint64{metas[0].pageSize}
	if errs[0] != nil {
		sizes = nil
		for ps := uint64(boltMinPageSize); ps <= boltMaxPageSize; ps *= 2 {
			sizes = append(sizes, ps)
		}
	}
	errs[1] = errors.New("not found")
	for _, ps := range sizes {
		clear(buf)
		if _, err := f.ReadAt(buf, int64(ps)); err != nil && !errors.Is(err, io.EOF) {
			return true, err
		}
		if m, err := readMeta(buf); err == nil && m.pageSize == ps {
			metas[1], errs[1] = m, nil
			break
		} else if errs[0] == nil {
			errs[1] = err
		}
	}
	switch {
	case errs[0] != nil && errs[1] != nil:
		return true, damaged(path, "not a bbolt file, or both of its meta pages are damaged (%v; %v)", errs[0], errs[1])
	case errs[0] == nil && errs[1] == nil && metas[0].pageSize != metas[1].pageSize:
		return true, damaged(path, "the meta pages disagree on the page size")
	}
	// One bad meta page is what a crash in the middle of a commit leaves
	// (bbolt writes the meta page last, alternating between the two), and
	// bbolt reads the other: the state as of the commit before, which is
	// all the runner ever relied on, since a commit counts only once it
	// returned. Refusing it would send the user to rebuild the state from
	// results.jsonl, which knows less. The tree under the good meta page is
	// still checked when the file is opened.
	for i, m := range metas {
		if errs[i] != nil {
			continue
		}
		if need := m.pgid * m.pageSize; uint64(size) < need {
			return true, damaged(path, "truncated: %d bytes, meta page %d needs %d", size, i, need)
		}
	}
	return true, nil
}

// checkTree reads every page of the file's tree — each bucket, each key and
// value — and then runs bbolt's own consistency check. A corrupt page makes
// bbolt panic, and a page outside the file faults; both become a
// *DamagedError here instead of a crash, before the runner relies on the
// file.
func checkTree(path string, db *bolt.DB) (err error) {
	return guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			var walk func(b *bolt.Bucket) error
			walk = func(b *bolt.Bucket) error {
				c := b.Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if v == nil {
						if child := b.Bucket(k); child != nil {
							if err := walk(child); err != nil {
								return err
							}
						}
					}
				}
				return nil
			}
			err := tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
			if err != nil {
				return damaged(path, "%v", err)
			}
			var problems []error
			for e := range tx.Check() { // drain it: Check's goroutine sends until done
				if len(problems) < 3 {
					problems = append(problems, e)
				}
			}
			if len(problems) > 0 {
				return damaged(path, "consistency check: %v", errors.Join(problems...))
			}
			return nil
		})
	})
}

// guard runs fn, turning a panic or a memory fault in it (bbolt reading a
// corrupt page) into a *DamagedError.
func guard(path string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if p := recover(); p != nil {
			err = damaged(path, "reading it failed: %v", p)
		}
	}()
	return fn()
}
