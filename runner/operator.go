package runner

import (
	"time"

	"github.com/pikabatch/pikabatch/store"
)

// begin resets the counters for a new run. It holds r.live so that a
// Snapshot taken at the same moment sees the old figures or the new ones,
// never a struct half overwritten.
func (r *Runner) begin(start time.Time) {
	r.live.Lock()
	defer r.live.Unlock()
	r.stats = counters{}
	r.started = start
}

// Snapshot returns the figures of the run going on (or of the last one) so
// far: what the end-of-run Summary would say now. Rows counts the manifest
// rows read so far and Final the rows that have ended, by state. It is safe
// to call from any goroutine at any time; before the first Run it returns
// a zero Summary.
func (r *Runner) Snapshot() Summary {
	r.live.Lock()
	defer r.live.Unlock()
	if r.started.IsZero() {
		return Summary{FailReasons: map[string]int{}, Final: map[store.State]int{}}
	}
	return r.snapshot(r.started)
}
