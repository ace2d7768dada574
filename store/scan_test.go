package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// scanFixture is a store of n jobs, keys k00000…, whose record number bad
// (if ≥ 0) does not decode.
func scanFixture(t *testing.T, n, bad int) (*fixture, []string) {
	t.Helper()
	f := setup(t)
	ctx := context.Background()
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("k%05d", i)
		require.NoError(t, f.store.Put(ctx, newJob(keys[i])))
	}
	if bad >= 0 {
		require.NoError(t, f.store.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketJobs).Put([]byte(keys[bad]), []byte(`{"key":"x","state":"pend`))
		}))
	}
	return f, keys
}

// scanWith runs scanJobsWith over f's jobs, collecting the keys fn saw.
func scanWith(f *fixture, ctx context.Context, decoders int, fn func(*Job) error) ([]string, error) {
	var seen []string
	err := f.store.db.View(func(tx *bolt.Tx) error {
		return scanJobsWith(ctx, tx, decoders, func(j *Job) error {
			seen = append(seen, j.Key)
			return fn(j)
		})
	})
	return seen, err
}

// TestScanDecodesInParallelInKeyOrder: records decoded by several
// goroutines, a batch each, still reach fn one at a time in key order, and
// every one of them once.
func TestScanDecodesInParallelInKeyOrder(t *testing.T) {
	t.Parallel()
	n := 3*scanBatch*maxScanDecoders + 17
	f, keys := scanFixture(t, n, -1)
	for _, decoders := range []int{1, 2, 3, maxScanDecoders} {
		seen, err := scanWith(f, context.Background(), decoders, func(*Job) error { return nil })
		require.NoError(t, err)
		assert.Equal(t, keys, seen, "%d decoders", decoders)
	}
}

// TestScanStopsWhereOneGoroutineWould: damage, fn's error and a cancelled
// context stop a parallel scan after exactly the records a scan on one
// goroutine would have delivered, and the scan's goroutines are gone when
// it returns (the transaction can close: Close would wait for it).
func TestScanStopsWhereOneGoroutineWould(t *testing.T) {
	t.Parallel()
	n := 5 * scanBatch
	bad := 2*scanBatch + 40
	f, keys := scanFixture(t, n, bad)
	ctx := context.Background()
	for _, decoders := range []int{1, 3} {
		seen, err := scanWith(f, ctx, decoders, func(*Job) error { return nil })
		assert.ErrorIs(t, err, ErrDamaged, "%d decoders", decoders)
		assert.Equal(t, keys[:bad], seen, "%d decoders: the records before the damaged one", decoders)

		stop := errors.New("stop")
		seen, err = scanWith(f, ctx, decoders, func(j *Job) error {
			if j.Key == keys[scanBatch+3] {
				return stop
			}
			return nil
		})
		assert.Same(t, stop, err)
		assert.Equal(t, keys[:scanBatch+4], seen)

		cctx, cancel := context.WithCancel(ctx)
		seen, err = scanWith(f, cctx, decoders, func(j *Job) error {
			if j.Key == keys[10] {
				cancel()
			}
			return nil
		})
		cancel()
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, keys[:11], seen)
	}
	assert.True(t, slices.IsSorted(keys))
	require.NoError(t, f.store.Close())
}
