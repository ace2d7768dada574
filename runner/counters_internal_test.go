package runner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizeReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg, want string
	}{
		{name: "plain", msg: "generation failed: content moderation rejected the input", want: "generation failed: content moderation rejected the input"},
		{name: "request id", msg: "job 3f9a2c71e0 failed", want: "job <id> failed"},
		{name: "uuid in quotes", msg: `request "0b6c1f2e-8d4a-4c3e-9f00-1a2b3c4d5e6f" not found`, want: `request "<id>" not found`},
		{name: "url", msg: "image https://img.example.com/a.png?sig=abc could not be fetched.", want: "image <url> could not be fetched."},
		{name: "url in parens", msg: "fetch (http://h/x.png): 403", want: "fetch (<url>): 403"},
		{name: "byte count", msg: "image is 62914560 bytes", want: "image is <id> bytes"},
		{name: "short numbers stay", msg: "HTTP 404 from host, error_code 400001", want: "HTTP 404 from host, error_code 400001"},
		{name: "words without digits stay", msg: "unauthorized moderation", want: "unauthorized moderation"},
		{name: "spaces", msg: "  out of\tmemory \n", want: "out of memory"},
		{name: "empty", msg: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, NormalizeReason(tt.msg))
		})
	}
	t.Run("long", func(t *testing.T) {
		t.Parallel()
		r := NormalizeReason(strings.Repeat("é", 300))
		assert.LessOrEqual(t, len(r), maxReasonBytes)
		assert.True(t, strings.HasSuffix(r, "é…"), r)
	})
}

func TestTopReasons(t *testing.T) {
	t.Parallel()
	many := map[string]int{}
	for i := range 15 {
		many[fmt.Sprintf("reason %02d", i)] = 100 - i
	}
	tests := []struct {
		name   string
		counts map[string]int
		n      int
		want   map[string]int
		order  []string
	}{
		{name: "none", counts: nil, n: 10, want: nil, order: []string{}},
		{name: "under n", counts: map[string]int{"a": 1, "b": 3}, n: 10,
			want: map[string]int{"a": 1, "b": 3}, order: []string{"b", "a"}},
		{name: "ties by reason", counts: map[string]int{"b": 2, "a": 2, "c": 5}, n: 2,
			want: map[string]int{"c": 5, "a": 2, OtherReasons: 2}, order: []string{"c", "a", OtherReasons}},
		{name: "other already counted joins the rest", counts: map[string]int{"a": 9, "b": 1, OtherReasons: 50}, n: 1,
			want: map[string]int{"a": 9, OtherReasons: 51}, order: []string{"a", OtherReasons}},
		{name: "other never takes a top place", counts: map[string]int{"a": 1, OtherReasons: 50}, n: 1,
			want: map[string]int{"a": 1, OtherReasons: 50}, order: []string{"a", OtherReasons}},
		{name: "top ten of fifteen", counts: many, n: 10,
			want: map[string]int{"reason 00": 100, "reason 01": 99, "reason 02": 98, "reason 03": 97, "reason 04": 96,
				"reason 05": 95, "reason 06": 94, "reason 07": 93, "reason 08": 92, "reason 09": 91,
				OtherReasons: 90 + 89 + 88 + 87 + 86},
			order: []string{"reason 00", "reason 01", "reason 02", "reason 03", "reason 04", "reason 05",
				"reason 06", "reason 07", "reason 08", "reason 09", OtherReasons}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := TopReasons(tt.counts, tt.n)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.order, RankReasons(got))
		})
	}
}

// TestFailReasonsBounded: a run whose every failure has its own message
// counts at most FailReasonsCounted reasons, and its summary shows the
// FailReasonsShown most frequent and the rest as one count.
func TestFailReasonsBounded(t *testing.T) {
	t.Parallel()
	r := &Runner{cfg: Config{Now: time.Now}}
	c := &r.stats
	for i := range 10_000 {
		c.fail(fmt.Sprintf("worker w%d crashed", i)) // distinct, short: not folded by NormalizeReason
		if i%10 == 0 {
			c.fail(fmt.Sprintf("job r-%d failed", 10_000_000+i)) // one reason once normalised
		}
	}
	require.Len(t, c.failReasons, FailReasonsCounted+1, "distinct reasons counted apart, and the rest")
	assert.Equal(t, 1000, c.failReasons["job <id> failed"])
	assert.Equal(t, 1, c.failReasons["worker w0 crashed"])

	s := r.snapshot(time.Now())
	assert.Equal(t, 11_000, s.Failed)
	assert.Len(t, s.FailReasons, FailReasonsShown+1)
	assert.Equal(t, 1000, s.FailReasons["job <id> failed"])
	total := 0
	for _, n := range s.FailReasons {
		total += n
	}
	assert.Equal(t, s.Failed, total, "every failure counted once")
	assert.Equal(t, []string{"job <id> failed", "worker w0 crashed"}, RankReasons(s.FailReasons)[:2])
}
