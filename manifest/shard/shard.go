// Package shard splits a manifest between N machines by job key, so that
// each renders its part with its own state file and no row is rendered
// twice or left out.
//
// A row belongs to shard K of N when FNV-1a-64(key) mod N == K. The key is
// the row's id, or the key derived from its parameters, so the split does
// not depend on row order, on the machine or on the Go version; adding or
// removing rows moves no other row between shards (changing N does).
package shard

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/pikabatch/pikabatch/manifest"
)

// IndexEnv is the variable `--shard auto/N` reads K from: Kubernetes sets
// it in each pod of an Indexed Job.
const IndexEnv = "JOB_COMPLETION_INDEX"

// ErrSpec: a --shard value that can't be used.
var ErrSpec = errors.New("invalid shard")

// Spec is shard K of N. The zero value means no sharding: every row.
type Spec struct {
	K, N int
}

// Parse reads "K/N" (K counted from 0) or "auto/N", which takes K from
// IndexEnv through getenv. An empty s is the zero Spec.
func Parse(s string, getenv func(string) string) (Spec, error) {
	if s == "" {
		return Spec{}, nil
	}
	ks, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Spec{}, fmt.Errorf("%w %q: want K/N or auto/N", ErrSpec, s)
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 {
		return Spec{}, fmt.Errorf("%w %q: N must be a whole number of at least 1", ErrSpec, s)
	}
	if ks == "auto" {
		ks = getenv(IndexEnv)
		if ks == "" {
			return Spec{}, fmt.Errorf("%w %q: %s is not set", ErrSpec, s, IndexEnv)
		}
	}
	k, err := strconv.Atoi(ks)
	if err != nil || k < 0 || k >= n {
		return Spec{}, fmt.Errorf("%w %q: K must be from 0 to %d, not %q", ErrSpec, s, n-1, ks)
	}
	return Spec{K: k, N: n}, nil
}

// IsSet reports whether s splits the manifest.
func (s Spec) IsSet() bool { return s.N > 0 }

// String returns "K/N", or "" for the zero Spec.
func (s Spec) String() string {
	if !s.IsSet() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}

// Owns reports whether the row with key belongs to shard s.
func (s Spec) Owns(key string) bool {
	if !s.IsSet() {
		return true
	}
	h := fnv.New64a()
	_, _ = io.WriteString(h, key)
	return h.Sum64()%uint64(s.N) == uint64(s.K)
}

// suffix is "-K-of-N", or "" when unsharded.
func (s Spec) suffix() string {
	if !s.IsSet() {
		return ""
	}
	return fmt.Sprintf("-%d-of-%d", s.K, s.N)
}

// StateName is the shard's state file name in the output folder:
// .pikabatch.db, or .pikabatch-K-of-N.db.
func (s Spec) StateName() string { return ".pikabatch" + s.suffix() + ".db" }

// IndexName is the shard's results index name for ext ("jsonl", "csv"):
// results.jsonl, or results-K-of-N.jsonl, so that shards sharing a folder
// do not overwrite each other's (`pikabatch export` merges them).
func (s Spec) IndexName(ext string) string { return "results" + s.suffix() + "." + ext }

// Rows yields manifest rows; io.EOF ends it. *manifest.Reader implements it.
type Rows interface {
	Next() (manifest.Row, error)
}

// Filter returns the rows of src that belong to s.
func Filter(src Rows, s Spec) Rows {
	if !s.IsSet() {
		return src
	}
	return &filtered{src: src, s: s}
}

type filtered struct {
	src Rows
	s   Spec
}

func (f *filtered) Next() (manifest.Row, error) {
	for {
		row, err := f.src.Next()
		if err != nil || f.s.Owns(row.Key) {
			return row, err
		}
	}
}

// ErrOtherSplit: the output folder holds the state of another split of the
// manifest. Its rows were submitted under their old shards' state files,
// which this split never reads, so rendering would pay for them again.
var ErrOtherSplit = errors.New("the output folder holds state of another split")

// OtherSplits returns the state files in dir (by their default names) that
// belong to a split other than s: another N, or sharded where s is not (and
// the other way round). Shards of the same N share a folder freely. A
// missing dir has none.
func OtherSplits(dir string, s Spec) ([]string, error) {
	names, err := StateFiles(dir)
	if err != nil {
		return nil, err
	}
	var other []string
	for _, name := range names {
		if n, _ := stateFileSplit(name); n != s.N {
			other = append(other, name)
		}
	}
	return other, nil
}

// StateFiles returns the names of the state files in dir by their default
// names (.pikabatch.db, .pikabatch-K-of-N.db), sorted. A missing dir has
// none. The folder holds the batch's videos, a million in a big one, so
// it is read a chunk of names at a time and only state files are kept:
// reading it whole and sorted was 114 MB of garbage in a million-row
// export.
func StateFiles(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look for state files in %s: %w", dir, err)
	}
	defer d.Close()
	var found []string
	for {
		names, err := d.Readdirnames(4096)
		for _, name := range names {
			if _, ok := stateFileSplit(name); ok {
				found = append(found, name)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("look for state files in %s: %w", dir, err)
		}
	}
	slices.Sort(found)
	return found, nil
}

// stateFileSplit reads N from a default state file name: 0 for
// .pikabatch.db, N for .pikabatch-K-of-N.db; ok is false for other names.
func stateFileSplit(name string) (n int, ok bool) {
	if name == ".pikabatch.db" {
		return 0, true
	}
	rest, found := strings.CutPrefix(name, ".pikabatch-")
	if !found {
		return 0, false
	}
	rest, found = strings.CutSuffix(rest, ".db")
	if !found {
		return 0, false
	}
	k, nStr, found := strings.Cut(rest, "-of-")
	if !found {
		return 0, false
	}
	if _, err := strconv.Atoi(k); err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(nStr)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}
