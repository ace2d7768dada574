package store

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// scanBatch is how many records a decoding goroutine takes at a time:
// enough to make the hand-over cheap, few enough to keep memory flat
// (about a quarter of a megabyte of decoded jobs each).
const scanBatch = 256

// maxScanDecoders bounds the goroutines that decode one scan's records.
const maxScanDecoders = 4

// scanJobs decodes every job record in key order into a T — the whole Job,
// or only the fields a caller needs — and calls fn with it on the calling
// goroutine, in key order, stopping at the context's end or fn's first
// error. Decoding is most of a scan's cost (the JSON of a million records
// is about 7 s of CPU), so with more than one CPU the records are decoded
// by several goroutines, a batch each, and handed to fn in order. The
// values they read are bbolt's, valid while tx is open: every goroutine
// has ended when scanJobs returns.
func scanJobs[T any](ctx context.Context, tx *bolt.Tx, fn func(*T) error) error {
	return scanJobsWith(ctx, tx, min(runtime.GOMAXPROCS(0), maxScanDecoders), fn)
}

// scanJobsWith is scanJobs with decoders goroutines decoding; fewer than 2
// decode on the calling goroutine.
func scanJobsWith[T any](ctx context.Context, tx *bolt.Tx, decoders int, fn func(*T) error) error {
	if decoders < 2 {
		return scanRecords(ctx, tx, func(k, v []byte) error {
			var rec T
			if err := decodeRecord(k, v, &rec); err != nil {
				return err
			}
			return fn(&rec)
		})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *decodeBatch[T], decoders)
	inOrder := make(chan *decodeBatch[T], 2*decoders)
	var decoding sync.WaitGroup
	for range decoders {
		decoding.Go(func() {
			for b := range work {
				b.decode()
			}
		})
	}
	var scanErr error // set before inOrder is closed
	go func() {
		defer close(inOrder)
		defer close(work)
		b := newDecodeBatch[T]()
		hand := func() error {
			// In order first: the reader waits on the batches in the order
			// they were read, each already on its way to a decoder.
			for _, ch := range []chan *decodeBatch[T]{inOrder, work} {
				select {
				case ch <- b:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			b = newDecodeBatch[T]()
			return nil
		}
		scanErr = scanRecords(ctx, tx, func(k, v []byte) error {
			b.keys, b.vals = append(b.keys, k), append(b.vals, v)
			if len(b.vals) < scanBatch {
				return nil
			}
			return hand()
		})
		if scanErr == nil && len(b.vals) > 0 {
			scanErr = hand()
		}
	}()
	err := deliver(ctx, inOrder, fn)
	if err != nil {
		cancel()
		for range inOrder { // let the scan end before the transaction does
		}
	}
	decoding.Wait()
	if err != nil {
		return err
	}
	return scanErr
}

// deliver calls fn with the records of each batch, in order, as the batch
// is decoded. A record that did not decode stops it with its error once
// the records before it are delivered, as a scan on one goroutine would.
func deliver[T any](ctx context.Context, inOrder <-chan *decodeBatch[T], fn func(*T) error) error {
	for b := range inOrder {
		<-b.ready
		for i := range b.recs {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(&b.recs[i]); err != nil {
				return err
			}
		}
		if b.err != nil {
			return b.err
		}
	}
	return nil
}

// decodeBatch is a run of consecutive records and, once ready is closed,
// their decoding: recs, up to the first record that did not decode and
// its error.
type decodeBatch[T any] struct {
	keys, vals [][]byte
	recs       []T
	err        error
	ready      chan struct{}
}

func newDecodeBatch[T any]() *decodeBatch[T] {
	return &decodeBatch[T]{keys: make([][]byte, 0, scanBatch), vals: make([][]byte, 0, scanBatch), ready: make(chan struct{})}
}

func (b *decodeBatch[T]) decode() {
	defer close(b.ready)
	b.recs = make([]T, len(b.vals))
	for i, v := range b.vals {
		if b.err = decodeRecord(b.keys[i], v, &b.recs[i]); b.err != nil {
			b.recs = b.recs[:i]
			return
		}
	}
}

func decodeRecord[T any](k, v []byte, rec *T) error {
	if err := json.Unmarshal(v, rec); err != nil {
		return fmt.Errorf("%w: record %q does not decode: %w", ErrDamaged, k, err)
	}
	return nil
}
