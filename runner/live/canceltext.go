package live

import (
	"fmt"
	"io"
)

// outcomeText is a cancel outcome for people.
func outcomeText(outcome string) string {
	switch outcome {
	case Cancelled:
		return "cancelled"
	case AlreadyRunning:
		return "already running: not cancelled; it is paid for, and the run collects its video"
	case Finished:
		return "already finished"
	case NotSubmitted:
		return "not submitted (nothing on the API to cancel)"
	case NotFound:
		return "no such key"
	case CancelFailed:
		return "cancel failed"
	}
	return ""
}

// WriteText writes the report for people: a line per job, then the
// counts.
func (r CancelReport) WriteText(w io.Writer) {
	for _, res := range r.Results {
		line := fmt.Sprintf("%-24s %s", res.Key, outcomeText(res.Outcome))
		if res.RequestID != "" {
			line += " [request " + res.RequestID + "]"
		}
		if res.Error != "" {
			line += ": " + res.Error
		}
		fmt.Fprintln(w, line)
	}
	// A job the API would not cancel is never recorded cancelled: it keeps
	// being polled and downloaded by the run (this one, or the next).
	line := fmt.Sprintf("%d cancelled, %d already running (collected by the run)", r.Counts[Cancelled], r.Counts[AlreadyRunning])
	if other := len(r.Results) - r.Counts[Cancelled] - r.Counts[AlreadyRunning]; other > 0 {
		line += fmt.Sprintf(", %d other", other)
	}
	fmt.Fprintln(w, line)
}
