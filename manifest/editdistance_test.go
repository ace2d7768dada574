package manifest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pikabatch/pikabatch/manifest"
)

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"json", "json", 0}, {"jsn", "json", 1}, {"concurency", "concurrency", 1},
		{"kitten", "sitting", 3}, {"", "out", 3}, {strings.Repeat("x", 65), "x", 64},
	} {
		assert.Equal(t, c.want, manifest.EditDistance(c.a, c.b), "%q %q", c.a, c.b)
		assert.Equal(t, c.want, manifest.EditDistance(c.b, c.a), "%q %q", c.b, c.a)
	}
}
