package bucketsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/results"
)

// Reader is the part of a bucket client that reads a prefix's indexes.
// *bucket.Client implements it.
type Reader interface {
	// Each streams the objects directly under dir whose name starts with
	// start; it only reads.
	Each(ctx context.Context, dir bucket.Location, start string, fn func(bucket.Location) error) error
	// NewReader streams an object; an error wraps bucket.ErrNotFound when
	// there is none.
	NewReader(ctx context.Context, l bucket.Location) (io.ReadCloser, error)
}

var _ Reader = (*bucket.Client)(nil)

// Index is a results index copied to a bucket: a whole batch's
// (results.jsonl) or one shard's (results-K-of-N.jsonl). It is a
// results.Exporter, reading the object as a stream.
type Index struct {
	Name string // the object's name under the prefix
	At   bucket.Location
	r    Reader
}

var _ results.Exporter = Index{}

// Export calls fn with each entry of the index, in its order.
func (ix Index) Export(ctx context.Context, fn func(results.Entry) error) error {
	rc, err := ix.r.NewReader(ctx, ix.At)
	if err != nil {
		return err
	}
	defer rc.Close()
	err = results.Scan(rc, func(_ int, e results.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(e)
	})
	if le := (*results.LineError)(nil); errors.As(err, &le) {
		return fmt.Errorf("%s:%d: %w", ix.At, le.Line, le.Err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", ix.At, err)
	}
	return nil
}

// Indexes lists the results indexes copied under prefix, in name order:
// the batch's and every shard's, which together are the batch. It fails
// with an error wrapping bucket.ErrNotFound when there is none.
func Indexes(ctx context.Context, r Reader, prefix bucket.Location) ([]Index, error) {
	var out []Index
	start := strings.TrimSuffix(results.IndexFile, ".jsonl")
	err := r.Each(ctx, prefix, start, func(l bucket.Location) error {
		if name := path.Base(l.Key); isIndexName(name) {
			out = append(out, Index{Name: name, At: l, r: r})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s (nor a shard's results-K-of-N.jsonl) under %s: %w", results.IndexFile, prefix, bucket.ErrNotFound)
	}
	return out, nil
}

// isIndexName reports whether name is results.jsonl or a shard's
// results-K-of-N.jsonl.
func isIndexName(name string) bool {
	if name == results.IndexFile {
		return true
	}
	rest, ok := strings.CutPrefix(name, "results-")
	if !ok {
		return false
	}
	rest, ok = strings.CutSuffix(rest, ".jsonl")
	if !ok {
		return false
	}
	k, n, ok := strings.Cut(rest, "-of-")
	ki, err1 := strconv.Atoi(k)
	ni, err2 := strconv.Atoi(n)
	return ok && err1 == nil && err2 == nil && ki >= 0 && ki < ni
}
