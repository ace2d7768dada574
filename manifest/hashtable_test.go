package manifest

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHashTableMatchesMap checks the table against a Go map over random
// hashes, hashes that share a home slot, the hash 0 and overwrites,
// through several growths.
func TestHashTableMatchesMap(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var tab hashTable
	ref := map[uint64]uint32{}
	put := func(h uint64, v uint32) {
		tab.put(h, v)
		ref[h] = v
	}
	for i := range 20_000 {
		h := rng.Uint64()
		switch i % 5 {
		case 0:
			h = uint64(i) // small hashes, and 0
		case 1:
			h = uint64(i) << 40 // hashes differing in their high bits only
		}
		put(h, uint32(i))
		if i%7 == 0 {
			put(h, uint32(i)+1) // overwrite
		}
	}
	require.Equal(t, len(ref), tab.len())
	for h, v := range ref {
		got, ok := tab.get(h)
		require.True(t, ok, "hash %#x", h)
		require.Equal(t, v, got, "hash %#x", h)
	}
	for range 20_000 {
		h := rng.Uint64()
		_, want := ref[h]
		_, ok := tab.get(h)
		require.Equal(t, want, ok)
	}
	_, ok := tab.get(0)
	assert.True(t, ok, "hash 0 is a key like any other")
}

func TestHashTableEmpty(t *testing.T) {
	t.Parallel()
	var tab hashTable
	for _, h := range []uint64{0, 1, 1 << 63} {
		_, ok := tab.get(h)
		assert.False(t, ok)
	}
	assert.Zero(t, tab.len())
}

// TestHashTableReserveHolds: a table reserved for n entries takes them
// without growing, so a run's memory is taken when its reader opens.
func TestHashTableReserveHolds(t *testing.T) {
	t.Parallel()
	const n = 100_000
	var tab hashTable
	tab.reserve(n)
	slots := len(tab.hashes)
	assert.Equal(t, n+n/4, slots, "15 bytes an entry")
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range n {
		tab.put(rng.Uint64()|1, uint32(i))
	}
	assert.Equal(t, slots, len(tab.hashes), "no growth")
	assert.Equal(t, n, tab.len())
	tab.reserve(n / 2)
	assert.Equal(t, slots, len(tab.hashes), "reserve never shrinks")
}

// TestReaderExpectSizesOnce: a reader told the validation pass's Summary
// reads the manifest without growing its key sets, and gives the same
// keys as one that was not told.
func TestReaderExpectSizesOnce(t *testing.T) {
	t.Parallel()
	var b []byte
	b = append(b, "id,image,seed\n"...)
	for i := range 3000 {
		id := ""
		if i%3 != 0 {
			id = "k" + string(rune('a'+i%26)) + strconv.Itoa(i)
		}
		// Every fifth id-less row repeats a seed: derived keys get "-n".
		b = append(b, id+","+testImage+","+strconv.Itoa(i%500)+"\n"...)
	}
	read := func(cfg Config) ([]string, *Reader) {
		r, err := NewReaderConfig(bytes.NewReader(b), "m.csv", cfg)
		require.NoError(t, err)
		var keys []string
		for {
			row, err := r.Next()
			if err != nil {
				break
			}
			keys = append(keys, row.Key)
		}
		return keys, r
	}
	want, plain := read(Config{})
	sum := plain.Summary()
	require.Equal(t, 3000, sum.Rows)
	require.Equal(t, 1000, sum.WithoutID)
	require.Positive(t, sum.DuplicateRows)

	r, err := NewReaderConfig(bytes.NewReader(b), "m.csv", Config{Expect: sum})
	require.NoError(t, err)
	keySlots, paramSlots := len(r.keys.keys.hashes), len(r.keys.params.hashes)
	assert.Equal(t, 3750, keySlots)
	assert.Equal(t, 1250, paramSlots)
	got, told := read(Config{Expect: sum})
	assert.Equal(t, want, got, "the same keys")
	assert.Equal(t, keySlots, len(told.keys.keys.hashes), "key set not grown")
	assert.Equal(t, paramSlots, len(told.keys.params.hashes), "parameter set not grown")
	assert.Equal(t, sum, told.Summary())

	// A file grown since it was counted: the sets grow, the keys are the same.
	small, _ := read(Config{Expect: Summary{Rows: 10, WithoutID: 1}})
	assert.Equal(t, want, small)
}

// len returns the number of entries.
func (t *hashTable) len() int {
	if t.hasZero {
		return t.n + 1
	}
	return t.n
}
