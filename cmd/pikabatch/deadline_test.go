package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeadlineFlag: the flag keeps what it was given for help and sets
// the run's deadline only from a value that reads.
func TestDeadlineFlag(t *testing.T) {
	now := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	d := time.Minute
	f := &deadlineFlag{now: func() time.Time { return now }, d: &d}
	require.Error(t, f.Set("tomorrow"))
	assert.Equal(t, time.Minute, d)
	require.NoError(t, f.Set("06:00"))
	assert.Equal(t, 8*time.Hour, d)
	assert.Equal(t, "06:00", f.String())
}

// TestExamplesTellDeadlineRight: the examples give --deadline as a clock
// time, which ends a late or restarted run at the same moment; their
// README once said that every deadline counts from the start of each run.
// Checked here against the flag itself: two starts of one night, one
// deadline.
func TestExamplesTellDeadlineRight(t *testing.T) {
	end := func(start time.Time, s string) time.Time {
		var d time.Duration
		f := &deadlineFlag{now: func() time.Time { return start }, d: &d}
		require.NoError(t, f.Set(s))
		return start.Add(d)
	}
	early := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	late := early.Add(3 * time.Hour)
	require.Equal(t, end(early, "05:00"), end(late, "05:00"), "a clock time ends a late start at the same moment")
	require.NotEqual(t, end(early, "5h"), end(late, "5h"), "a duration counts from each start")

	b, err := os.ReadFile(filepath.Join(examplesDir, "README.md"))
	require.NoError(t, err)
	doc := strings.Join(strings.Fields(string(b)), " ")
	for _, want := range []string{"a clock time is the same moment however late the run starts",
		"duration (`--deadline 5h30m`) counts from the start of each run"} {
		assert.True(t, strings.Contains(doc, want), "examples/README.md should say: %s", want)
	}
	assert.False(t, strings.Contains(doc, "Both count from the start of each run"),
		"examples/README.md says a clock-time deadline counts from the start")
}
