package runner

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSeenKeysSizedOnce: a set made for the rows a validation pass counted
// takes them without regrowing, and claims exactly the keys added.
func TestSeenKeysSizedOnce(t *testing.T) {
	t.Parallel()
	const n = 10_000
	s := newSeenKeys(n)
	want := cap(s.hashes)
	assert.Equal(t, n, want)
	for i := range n {
		s.add("row-" + strconv.Itoa(i))
	}
	assert.Equal(t, want, cap(s.hashes), "no regrowth")
	assert.True(t, s.claims([]byte("row-0")))
	assert.True(t, s.claims([]byte("row-9999")))
	assert.False(t, s.claims([]byte("row-10000")))
	assert.False(t, s.claims([]byte("ROW-0")), "keys compare exactly")

	unknown := newSeenKeys(0)
	unknown.add("a")
	assert.True(t, unknown.claims([]byte("a")))
}
