package runner

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/pikabatch/pikabatch/store"
)

// maxOrphanKeys caps the orphan keys a Summary lists; the count stays exact.
const maxOrphanKeys = 10

// orphanChunk is how many orphan flags are written in one transaction:
// a manifest trimmed to a few rows of a million-job state file flags a
// million orphans once, in 245 commits rather than a million.
const orphanChunk = 4096

// orphanScanner is a Checkpoint that can list the jobs no key claims and
// flag them (*store.Store). Without it a run finds no orphans.
type orphanScanner interface {
	// Unclaimed calls fn, in key order and outside any transaction, with
	// every job whose key claimed rejects; claimed must not call the store.
	Unclaimed(ctx context.Context, claimed func(key []byte) bool, fn func(store.Job) error) error
	// SetOrphan sets Job.Orphan on the jobs under keys, skipping missing keys.
	SetOrphan(ctx context.Context, keys []string, orphan bool) error
}

var _ orphanScanner = (*store.Store)(nil)

// seenKeys is the set of keys a manifest claimed, kept as 64-bit hashes:
// 8 bytes a row (8 MB for a million rows) where a map of the keys would
// hold every key and ~50 bytes of overhead each, and no write to the state
// file per row (a "seen" stamp on each record would cost a million writes
// on every resume). The seed is new for every run, so the one miss a
// collision can cause — an orphan taken for claimed, about one chance in
// 10^13 for a million rows — is not repeated by the next run. A collision
// can only hide an orphan, never make a claimed row one.
type seenKeys struct {
	seed   maphash.Seed
	hashes []uint64
	sorted bool
}

// newSeenKeys makes a set for about expect keys. Sized once, it is not
// regrown (and copied, the old array left to the GC) by doubling as a run
// goes on: 8 MB for a million rows, not up to 16 MB and a copy.
func newSeenKeys(expect int) *seenKeys {
	return &seenKeys{seed: maphash.MakeSeed(), hashes: make([]uint64, 0, max(expect, 0))}
}

func (s *seenKeys) add(key string) {
	s.hashes = append(s.hashes, maphash.String(s.seed, key))
	s.sorted = false
}

// claims reports whether key was added. The first call after an add sorts.
func (s *seenKeys) claims(key []byte) bool {
	if !s.sorted {
		slices.Sort(s.hashes)
		s.sorted = true
	}
	_, found := slices.BinarySearch(s.hashes, maphash.Bytes(s.seed, key))
	return found
}

// orphanAction is what a run does with an orphan: collect a render already
// paid for (poll it, download it), or nothing. An orphan is never submitted.
func orphanAction(j store.Job) action {
	switch j.State {
	case store.StateSubmitted, store.StateQueued, store.StateRunning:
		if j.RequestID != "" {
			return actPoll
		}
	case store.StateRendered:
		return actDownload
	}
	return actSkip
}

// orphans finds the jobs of the state file that no row of the manifest
// just read claimed, flags them (the index, export and status show the
// flag), counts them for the summary, and starts collecting those whose
// render is in flight or not yet downloaded, under their own recorded key.
// It runs once the whole manifest was read, while the rows' jobs go on.
func (r *run) orphans(ctx context.Context, seen *seenKeys, g *errgroup.Group) error {
	sc, ok := r.store.(orphanScanner)
	if !ok {
		return nil
	}
	var flag []string
	flush := func() error {
		if len(flag) == 0 {
			return nil
		}
		err := sc.SetOrphan(ctx, flag, true)
		flag = flag[:0]
		return err
	}
	var collect []store.Job
	fresh := 0
	err := sc.Unclaimed(ctx, seen.claims, func(j store.Job) error {
		r.stats.orphan(j.Key)
		if !j.Orphan {
			// A trimmed manifest can orphan a million jobs: the first few
			// are named, the rest counted.
			if fresh++; fresh <= maxOrphanKeys {
				r.log.Warn("job no manifest row claims; kept, never submitted", "key", j.Key,
					"state", string(j.State), "request_id", j.RequestID)
			}
			flag = append(flag, j.Key)
			j.Orphan = true
		}
		if orphanAction(j) != actSkip {
			collect = append(collect, j)
		}
		if len(flag) >= orphanChunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return nil // stopping: the next run finds them
	case err != nil:
		return fmt.Errorf("find orphans: %w", err)
	}
	if fresh > 0 {
		r.log.Warn("jobs no manifest row claims any more; flagged orphan in the index", "new", fresh,
			"orphans", r.stats.orphans.Load())
	}
	if h := r.cfg.Hooks.Orphans; h != nil {
		h(int(r.stats.orphans.Load()))
	}
	// The in-flight ones were in flight when a run stopped: as many as
	// that run's --concurrency, plus renders not yet downloaded.
	for _, j := range collect {
		r.stats.orphansLive.Add(1)
		r.log.Info("collecting the render of an orphan", "key", j.Key, "request_id", j.RequestID, "state", string(j.State))
		if err := r.start(ctx, g, j, orphanAction(j)); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil // stopping: it stays in flight for the next run
			}
			return err
		}
	}
	return nil
}

// orphan counts one orphan found, keeping the first few keys.
func (c *counters) orphan(key string) {
	c.orphans.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.orphanKeys) < maxOrphanKeys {
		c.orphanKeys = append(c.orphanKeys, key)
	}
}

// fail counts a job's failure: a row's among the run's failures (and so in
// its exit code), an orphan's apart — no manifest row is short of done.
func (r *run) fail(job store.Job, reason string) {
	if job.Orphan {
		r.stats.orphansFailed.Add(1)
		return
	}
	r.stats.fail(reason)
}

// finishOrphan counts how an orphan's collection ended. Orphans are not
// rows: they stay out of the rows' counts and Final.
func (r *run) finishOrphan(ctx context.Context, job store.Job, err error) error {
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil // interrupted: still in flight, collected next run
	case err != nil:
		return err
	case job.State == store.StateDone:
		r.stats.orphansCollected.Add(1)
	}
	return nil
}

// claim clears the orphan flag of a job that a row claims again (the row
// came back to the manifest). A stopping run leaves it to the next.
func (r *Runner) claim(ctx context.Context, job store.Job) (store.Job, error) {
	if !job.Orphan || ctx.Err() != nil {
		return job, nil
	}
	j, err := r.store.Update(ctx, job.Key, func(j *store.Job) error {
		j.Orphan = false
		return nil
	})
	if err != nil {
		return job, fmt.Errorf("claim %q: %w", job.Key, err)
	}
	return j, nil
}
