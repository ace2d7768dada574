package batch

import (
	"errors"
	"fmt"
	"time"
)

// ParseDeadline reads a --deadline value at now: how long after the start
// submits stop (a duration, "5h30m"), or when (a clock time, "06:00", the
// next one to come; or an RFC 3339 time), as the time from now. A clock
// time is the same moment however often the run is restarted — by
// systemd, a Kubernetes retry or a late cron start — where a duration
// starts counting anew each time.
func ParseDeadline(s string, now time.Time) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, errors.New("must not be negative")
		}
		return d, nil
	}
	if t, err := time.ParseInLocation("15:04", s, now.Location()); err == nil {
		at := time.Date(now.Year(), now.Month(), now.Day(), t.Hour(), t.Minute(), 0, 0, now.Location())
		if !at.After(now) {
			at = at.AddDate(0, 0, 1) // the next one
		}
		return at.Sub(now), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return 0, fmt.Errorf("%s has passed", s)
		}
		return t.Sub(now), nil
	}
	return 0, errors.New(`want a duration (5h30m), a clock time (06:00) or an RFC 3339 time`)
}
