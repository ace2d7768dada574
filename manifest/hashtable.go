package manifest

import "math/bits"

// hashTable maps 64-bit hashes to 32-bit values, by open addressing with
// linear probing in two flat arrays: 12 bytes a slot, 15 an entry when
// sized for its rows. A Go map of uint64 to uint32 takes a 16-byte slot
// plus a control byte, frees its old tables as it grows (garbage the GC
// headroom doubles, taken mid-run), and sized up front for a million
// entries rounds up to 2048 tables of 1024 slots, 34 MB. The capacity need
// not be a power of two: a hash picks its home slot by the high half of
// (mixed hash × capacity).
type hashTable struct {
	hashes []uint64 // 0 marks an empty slot; the hash 0 lives in zero
	values []uint32
	n      int // entries in the arrays
	// The hash 0 is a key like any other (FNV-1a can give it); it is kept
	// apart so that the arrays need no occupied flags.
	hasZero bool
	zero    uint32
}

// hashTableMinSlots is the capacity of a table's first allocation.
const hashTableMinSlots = 1024

// reserve sizes the table for n entries at once, so that adding them
// neither grows nor moves it: memory is taken at the start and stays flat.
func (t *hashTable) reserve(n int) {
	if want := n + n/4; want > len(t.hashes) {
		t.resize(want)
	}
}

// get returns the value stored for h.
func (t *hashTable) get(h uint64) (uint32, bool) {
	if h == 0 {
		return t.zero, t.hasZero
	}
	if len(t.hashes) == 0 {
		return 0, false
	}
	for i := t.home(h); ; i = t.next(i) {
		switch t.hashes[i] {
		case h:
			return t.values[i], true
		case 0:
			return 0, false
		}
	}
}

// put stores v for h, replacing any value stored before.
func (t *hashTable) put(h uint64, v uint32) {
	if h == 0 {
		t.hasZero, t.zero = true, v
		return
	}
	// Grow at 7/8 full: linear probing slows fast beyond that, and a
	// table reserved for its rows (4/5 full at the end) never grows.
	if (t.n+1)*8 > len(t.hashes)*7 {
		t.resize(max(2*len(t.hashes), hashTableMinSlots))
	}
	for i := t.home(h); ; i = t.next(i) {
		switch t.hashes[i] {
		case h:
			t.values[i] = v
			return
		case 0:
			t.hashes[i], t.values[i] = h, v
			t.n++
			return
		}
	}
}

// resize moves the entries into a table of the given number of slots.
func (t *hashTable) resize(slots int) {
	old, oldValues := t.hashes, t.values
	t.hashes, t.values, t.n = make([]uint64, slots), make([]uint32, slots), 0
	for i, h := range old {
		if h != 0 {
			t.put(h, oldValues[i])
		}
	}
}

// home is h's first slot. The hashes are mixed first (the finalizer of
// SplitMix64): FNV-1a of keys that differ only in their last characters
// differs little in its high bits, which would cluster.
func (t *hashTable) home(h uint64) int {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	hi, _ := bits.Mul64(h, uint64(len(t.hashes)))
	return int(hi)
}

func (t *hashTable) next(i int) int {
	if i++; i == len(t.hashes) {
		return 0
	}
	return i
}
