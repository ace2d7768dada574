package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestUnclaimedListsTheJobsNoKeyClaims(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	// More than two chunks, so that the resumption after each is tested.
	const n = 2*unclaimedChunk + 7
	var want []string
	for i := range n {
		key := fmt.Sprintf("k%04d", i)
		require.NoError(t, f.store.Put(ctx, newJob(key)))
		if i%3 != 0 {
			want = append(want, key)
		}
	}
	// Every third key is claimed.
	claimed := func(k []byte) bool {
		var i int
		_, err := fmt.Sscanf(string(k), "k%04d", &i)
		require.NoError(t, err)
		return i%3 == 0
	}

	var got []string
	require.NoError(t, f.store.Unclaimed(ctx, claimed, func(j Job) error {
		got = append(got, j.Key)
		// fn runs outside any transaction: it may write.
		return f.store.SetOrphan(ctx, []string{j.Key}, true)
	}))
	assert.Equal(t, want, got, "every unclaimed job once, in key order")

	orphans := 0
	require.NoError(t, f.store.ForEach(ctx, func(j Job) error {
		if j.Orphan {
			orphans++
			assert.Contains(t, want, j.Key)
		}
		return nil
	}))
	assert.Equal(t, len(want), orphans)

	// Claimed again: the flag comes off; an unknown key is skipped.
	require.NoError(t, f.store.SetOrphan(ctx, []string{"k0001", "nope"}, false))
	j, err := f.store.Get(ctx, "k0001")
	require.NoError(t, err)
	assert.False(t, j.Orphan)

	stop := fmt.Errorf("stop")
	calls := 0
	err = f.store.Unclaimed(ctx, func([]byte) bool { return false }, func(Job) error {
		calls++
		return stop
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls, "fn's error ends the scan")
}

func TestUnclaimedOnAnEmptyStore(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, f.store.Unclaimed(context.Background(), func([]byte) bool { return false }, func(Job) error {
		t.Fatal("no job to hand out")
		return nil
	}))
}

// BenchmarkUnclaimed walks a state file of 20,000 jobs for the orphans, in
// the usual case (every job claimed: keys only, nothing decoded) and the
// worst (none claimed: every job decoded and handed out).
func BenchmarkUnclaimed(b *testing.B) {
	const jobs = 20_000
	s := openBench(b)
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketJobs)
		for i := range jobs {
			j := newJob(fmt.Sprintf("job-%08d", i))
			data, err := json.Marshal(j)
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(j.Key), data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		claimed bool
	}{{"all claimed", true}, {"none claimed", false}} {
		b.Run(tc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				if err := s.Unclaimed(context.Background(), func([]byte) bool { return tc.claimed }, func(Job) error {
					n++
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*jobs), "ns/job")
		})
	}
}
