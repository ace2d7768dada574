package main

import (
	"time"

	"github.com/pikabatch/pikabatch/runner/batch"
)

// deadlineFlag is --deadline as a flag value; batch.ParseDeadline reads it.
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
	d, err := batch.ParseDeadline(s, f.now())
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}
