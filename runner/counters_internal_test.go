package runner

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/reasons"
)

// TestFailReasonsBounded: a run whose every failure has its own message
// counts at most reasons.Counted reasons, and its summary shows the
// reasons.Shown most frequent and the rest as one count.
func TestFailReasonsBounded(t *testing.T) {
	t.Parallel()
	r := &run{Runner: &Runner{cfg: Config{Now: time.Now}}, began: time.Now()}
	c := &r.stats
	for i := range 10_000 {
		c.fail(fmt.Sprintf("worker w%d crashed", i)) // distinct, short: not folded by reasons.Normalize
		if i%10 == 0 {
			c.fail(fmt.Sprintf("job r-%d failed", 10_000_000+i)) // one reason once normalised
		}
	}
	require.Len(t, c.failReasons, reasons.Counted+1, "distinct reasons counted apart, and the rest")
	assert.Equal(t, 1000, c.failReasons["job <id> failed"])
	assert.Equal(t, 1, c.failReasons["worker w0 crashed"])

	s := r.snapshot()
	assert.Equal(t, 11_000, s.Failed)
	assert.Len(t, s.FailReasons, reasons.Shown+1)
	assert.Equal(t, 1000, s.FailReasons["job <id> failed"])
	total := 0
	for _, n := range s.FailReasons {
		total += n
	}
	assert.Equal(t, s.Failed, total, "every failure counted once")
	assert.Equal(t, []string{"job <id> failed", "worker w0 crashed"}, reasons.Rank(s.FailReasons)[:2])
}
