package batch_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/batch"
)

func TestParseDeadline(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"5h30m", 5*time.Hour + 30*time.Minute},
		{"0", 0},
		{"06:00", 8 * time.Hour},              // tomorrow morning
		{"23:15", time.Hour + 15*time.Minute}, // later today
		{"22:00", 24 * time.Hour},             // now: the next one
		{"2026-11-26T05:00:00Z", 7 * time.Hour},
	} {
		got, err := batch.ParseDeadline(tt.in, now)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
	for _, bad := range []string{"-1h", "25:00", "2026-11-25T21:00:00Z", "tomorrow", ""} {
		_, err := batch.ParseDeadline(bad, now)
		assert.Error(t, err, bad)
	}
}
