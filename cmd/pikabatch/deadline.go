package main

import (
	"errors"
	"fmt"
	"time"
)

// deadlineFlag is --deadline: how long after the start submits stop (a
// duration, "5h30m"), or when (a clock time, "06:00", the next one to
// come; or an RFC 3339 time). A clock time is the same moment however often
// the run is restarted — by systemd, a Kubernetes retry or a late cron
// start — where a duration starts counting anew each time.
type deadlineFlag struct {
	now func() time.Time
	d   *time.Duration // set to the time from now; 0 = none
	raw string
}

func (f *deadlineFlag) String() string { return f.raw }

// Type names the value in help when the usage names none.
func (f *deadlineFlag) Type() string { return "when" }

func (f *deadlineFlag) Set(s string) error {
	f.raw = s
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return errors.New("must not be negative")
		}
		*f.d = d
		return nil
	}
	now := f.now()
	if t, err := time.ParseInLocation("15:04", s, now.Location()); err == nil {
		at := time.Date(now.Year(), now.Month(), now.Day(), t.Hour(), t.Minute(), 0, 0, now.Location())
		if !at.After(now) {
			at = at.AddDate(0, 0, 1) // the next one
		}
		*f.d = at.Sub(now)
		return nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return fmt.Errorf("%s has passed", s)
		}
		*f.d = t.Sub(now)
		return nil
	}
	return errors.New(`want a duration (5h30m), a clock time (06:00) or an RFC 3339 time`)
}
