package clocktest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pikabatch/pikabatch/runner/internal/clocktest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestStandsStillUntilMoved(t *testing.T) {
	t.Parallel()
	c := clocktest.New(t0)
	assert.Equal(t, t0, c.Now())
	assert.Equal(t, t0, c.Now(), "no time passes by itself")
	c.Advance(90 * time.Second)
	assert.Equal(t, t0.Add(90*time.Second), c.Now())
}

func TestStopAndStart(t *testing.T) {
	t.Parallel()
	c := clocktest.Running()
	a := c.Now()
	assert.False(t, a.Before(time.Now().Add(-time.Minute)), "starts at the wall clock")
	c.Stop()
	held := c.Now()
	assert.False(t, held.Before(a), "never goes back")
	assert.Equal(t, held, c.Now(), "a stopped clock stands still")
	c.Advance(time.Hour)
	c.Start()
	assert.False(t, c.Now().Before(held.Add(time.Hour)), "runs on from where it was moved to")
	c.Start() // already running: no jump
	assert.False(t, c.Now().Before(held.Add(time.Hour)))
}
