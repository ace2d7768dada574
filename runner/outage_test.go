package runner

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/api"
)

func TestOutageCountsFromTheFailingCallsFirstAttempt(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	o := &outage{limit: time.Minute, now: func() time.Time { return now }}
	down := errors.New("HTTP 503")

	// One call retried for two minutes before it gave up: the API has been
	// down longer than the limit already.
	long := &api.UnavailableError{Attempts: 9, Failing: 2 * time.Minute, Err: down}
	require.ErrorIs(t, o.wait(t.Context(), long, time.Millisecond), api.ErrUnavailable)

	o.ok()
	short := &api.UnavailableError{Attempts: 2, Failing: time.Second, Err: down}
	require.NoError(t, o.wait(t.Context(), short, time.Millisecond), "a short failure waits and tries again")
	now = now.Add(time.Minute)
	require.ErrorIs(t, o.wait(t.Context(), short, time.Millisecond), api.ErrUnavailable,
		"a minute after the first failing call began")
}
