package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
