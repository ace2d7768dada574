package batch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// copies are a run's copies of its files in a bucket (--sync-to): the
// syncer fed each file the runner saves, and the bucket client it uses.
type copies struct {
	to     bucket.Location
	client *bucket.Client
	syncer *bucketsync.Syncer
}

// parseSyncTo reads --sync-to.
func (b *batch) parseSyncTo() error {
	if b.c.SyncTo == "" {
		return nil
	}
	to, err := bucket.Parse(b.c.SyncTo)
	if err != nil {
		return configf("--sync-to: %v", err)
	}
	b.syncTo = &to
	return nil
}

// startCopies starts copying the run's files to the bucket prefix; nil
// without one. End it with finishCopies, or stop.
func (b *batch) startCopies(ctx context.Context, st *store.Store) (*copies, error) {
	if b.syncTo == nil {
		return nil, nil
	}
	c := &copies{to: *b.syncTo, client: bucket.New(bucket.Config{Conns: b.c.DownloadConcurrency})}
	var err error
	c.syncer, err = bucketsync.New(bucketsync.Config{To: c.to, Dir: b.c.Out, Workers: b.c.DownloadConcurrency, Logger: b.log}, c.client, st)
	if err != nil {
		_ = c.client.Close()
		return nil, err
	}
	c.syncer.Start(ctx)
	return c, nil
}

// onSaved is the runner's hook that hands the syncer each saved job; nil
// without copies.
func (c *copies) onSaved() func(context.Context, store.Job) {
	if c == nil {
		return nil
	}
	return c.syncer.Saved
}

// stop ends the copies of a run that never started; the files wait.
func (c *copies) stop(ctx context.Context) {
	if c == nil {
		return
	}
	// Ended before it starts: no sweep, nothing sent.
	ended, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = c.syncer.Finish(ended)
	_ = c.client.Close()
}

// finishCopies writes the dataset metadata beside the index, copies what is
// left (the files of earlier runs waiting, the index and the metadata,
// when they changed) and puts the outcome in sum. Its error is a
// *bucketsync.WaitingError when files wait for the next run.
func (b *batch) finishCopies(ctx context.Context, c *copies, entries results.Exporter, sum *runner.Summary) error {
	if c == nil {
		return nil
	}
	defer c.client.Close()
	index := b.spec.IndexName("jsonl")
	meta := bucketsync.MetadataName(index)
	if _, err := bucketsync.WriteMetadata(context.WithoutCancel(ctx), b.c.Out, meta, entries); err != nil {
		b.log.Warn("dataset metadata not written", "file", meta, "err", err)
	}
	rep, err := c.syncer.Finish(ctx, index, b.spec.IndexName("csv"), meta)
	sum.Copies = &account.Copies{To: c.to.String(), Uploaded: rep.Uploaded, Present: rep.Present, Bytes: rep.Bytes, Waiting: rep.Waiting}
	if err != nil && !errors.Is(err, bucketsync.ErrWaiting) {
		b.log.Warn("bucket copies not finished", "err", err)
	}
	return err
}

// checkBucketForState refuses to start a shard without its state file
// when its bucket prefix already holds the shard's results index: a run
// copied there, so the state was lost (a pod's volume gone with the pod),
// and a new state would submit, and pay for, the shard's rows again. The
// state is rebuilt from that index instead; --fresh starts over anyway.
// A bucket that cannot be asked refuses the start too: the same rows are
// at stake.
func (b *batch) checkBucketForState(ctx context.Context) error {
	if b.syncTo == nil || b.c.Fresh {
		return nil
	}
	if _, err := os.Lstat(b.state.path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	client := bucket.NewClient()
	defer client.Close()
	index := b.spec.IndexName("jsonl")
	obj := b.syncTo.Join(index)
	_, err := client.Stat(ctx, obj)
	switch {
	case errors.Is(err, bucket.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("%w: no state file at %s, and the bucket could not say whether runs of this batch copied their index there; nothing was submitted, try again when it answers: %w",
			bucketsync.ErrUnreachable, b.state.path, err)
	}
	return fmt.Errorf("%w: %s is not there, but runs of this batch copied their index to %s: a new state would submit, and pay for, its rows again\nnothing was submitted. Copy %s from the bucket into %s first. %s",
		store.ErrMissing, b.state.path, bucketsync.ObjectName(obj), index, b.c.Out, b.state.waysBack(false))
}
