package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
	"github.com/pikabatch/pikabatch/store"
)

// Copies is the part of the state a check of the bucket copies reads and
// corrects. *store.Store implements it.
type Copies interface {
	bucketsync.Records
	ForEachCopy(ctx context.Context, prefix string, fn func(object string, c store.Copy) error) error
	ForgetCopy(ctx context.Context, object string) error
	Meta(ctx context.Context, key string) (string, error)
}

var _ Copies = (*store.Store)(nil)

// Stater is the part of a bucket client the check uses. *bucket.Client
// implements it.
type Stater interface {
	// Stat returns an object's attributes; an error wrapping
	// bucket.ErrNotFound when there is none. It only reads.
	Stat(ctx context.Context, l bucket.Location) (bucket.Attrs, error)
}

var _ Stater = (*bucket.Client)(nil)

// CopiesReport is the outcome of a check of a batch's bucket copies.
type CopiesReport struct {
	To     string `json:"to"`     // the prefix, as the state recorded it
	Copies int    `json:"copies"` // recorded copies checked
	OK     int    `json:"ok"`
	// Findings are the copies missing or different; each was forgotten,
	// so the next run uploads its file again.
	Findings []Finding `json:"findings,omitempty"`
	// Waiting are done files with no copy recorded: the next run uploads
	// them.
	Waiting int `json:"waiting"`
}

// ErrNoCopies: the state records no bucket prefix (the batch was never
// run with --sync-to).
var ErrNoCopies = errors.New("the state records no bucket copies")

// CheckCopies looks at every copy of the state's files recorded under
// the prefix the state recorded (bucketsync.MetaKey): the object must be
// there with the recorded size and SHA-256 metadata. A copy missing or
// different is reported and its record forgotten, which queues its file
// for upload on the next run; the local files are never touched. A bucket
// that cannot be reached fails the check.
func CheckCopies(ctx context.Context, recs Copies, b Stater, opts Options) (CopiesReport, error) {
	raw, err := recs.Meta(ctx, bucketsync.MetaKey)
	if err != nil {
		return CopiesReport{}, err
	}
	if raw == "" {
		return CopiesReport{}, ErrNoCopies
	}
	to, err := bucket.Parse(raw)
	if err != nil {
		return CopiesReport{}, fmt.Errorf("recorded bucket prefix: %w", err)
	}
	if opts.Workers <= 0 {
		opts.Workers = 8 // a bucket's round trips, not the CPUs, bound it
	}
	rep := CopiesReport{To: to.String()}
	var mu sync.Mutex // guards rep's counts and findings
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Workers)
	prefix := bucketsync.ObjectName(to.Join(""))
	err = recs.ForEachCopy(ctx, prefix, func(object string, c store.Copy) error {
		obj := to.Join(strings.TrimPrefix(object, prefix))
		g.Go(func() error {
			f, err := checkCopy(gctx, b, obj, object, c)
			mu.Lock()
			defer mu.Unlock()
			rep.Copies++
			if f == nil && err == nil {
				rep.OK++
			} else if f != nil {
				rep.Findings = append(rep.Findings, *f)
			}
			return err
		})
		return gctx.Err()
	})
	if werr := g.Wait(); werr != nil {
		err = werr
	}
	if err != nil {
		return rep, err
	}
	slices.SortFunc(rep.Findings, func(a, b Finding) int { return strings.Compare(a.Key, b.Key) })
	return rep, forget(ctx, recs, to, &rep)
}

// checkCopy compares the object at obj with its record; the error is the
// bucket's, when it could not say.
func checkCopy(ctx context.Context, b Stater, obj bucket.Location, object string, c store.Copy) (*Finding, error) {
	find := func(p Problem, detail string) *Finding {
		return &Finding{Key: object, Path: c.Path, Problem: p, Detail: detail + "; the next run uploads it again"}
	}
	a, err := b.Stat(ctx, obj)
	switch {
	case errors.Is(err, bucket.ErrNotFound):
		return find(Missing, "not in the bucket"), nil
	case err != nil:
		return nil, fmt.Errorf("check the copy of %s: %w", c.Path, err)
	case a.Size != c.Size:
		return find(WrongSize, fmt.Sprintf("%d bytes, recorded %d", a.Size, c.Size)), nil
	case a.SHA256 != c.SHA256:
		return find(WrongHash, fmt.Sprintf("metadata sha256 %q, recorded %s", a.SHA256, c.SHA256)), nil
	}
	return nil, nil
}

// forget drops the records of the copies found wrong, so the next run
// uploads their files, and counts the files waiting for it.
func forget(ctx context.Context, recs Copies, to bucket.Location, rep *CopiesReport) error {
	for _, f := range rep.Findings {
		if err := recs.ForgetCopy(ctx, f.Key); err != nil {
			return err
		}
	}
	n, err := bucketsync.Waiting(ctx, to, recs)
	rep.Waiting = n
	return err
}
