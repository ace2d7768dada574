package live

import (
	"sync"
	"time"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/store"
)

// rateWindow is how far back throughput is measured: long enough to smooth
// out a burst of jobs finishing together, short enough to follow a slower
// account or an outage.
const rateWindow = 5 * time.Minute

// Run describes the run going on in this process, for status requests and
// the progress display. Its methods are safe for concurrent use.
type Run struct {
	Owner store.Owner
	// Rows is the number of manifest rows the run works on (its shard).
	Rows int
	// Snapshot returns the run's figures so far; the caller fills them
	// from its runner (cmd/pikabatch converts runner.Runner.Snapshot).
	Snapshot func() account.Figures
	// Calls returns the API calls made so far (api.Client.Calls); may be nil.
	Calls func() api.Calls

	mu    sync.Mutex
	meter meter
}

// RunInfo is a live run's progress.
type RunInfo struct {
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	StartedAt time.Time `json:"started_at"`
	Command   string    `json:"command,omitempty"`
	// Rows is the manifest rows the run works on; Finished those that
	// reached a final state (done, failed, cancelled, timed out, expired),
	// including rows done before this run; Left the rest. They are
	// ThisRun.Account's figures, kept for scripts that read them here.
	Rows     int `json:"rows"`
	Finished int `json:"finished"`
	Done     int `json:"done"`
	Left     int `json:"left"`
	// InProgress is the rows sent and not finished (Account.InFlight).
	InProgress int             `json:"in_progress"`
	ThisRun    account.Figures `json:"this_run"`
	Calls      api.Calls       `json:"api_calls"`
	// PerMinute is jobs finished by this run per minute, over the last
	// few minutes; ETA is Left at that pace (0 while unknown).
	PerMinute float64       `json:"jobs_per_minute"`
	ETA       time.Duration `json:"eta_ns"`
}

// Info returns the run's progress now.
func (r *Run) Info(now time.Time) RunInfo {
	var sum account.Figures
	if r.Snapshot != nil {
		sum = r.Snapshot()
	}
	sum.WholeManifest(r.Rows)
	info := RunInfo{PID: r.Owner.PID, Host: r.Owner.Host, StartedAt: r.Owner.StartedAt,
		Command: r.Owner.Command, Rows: r.Rows, ThisRun: sum}
	if r.Calls != nil {
		info.Calls = r.Calls()
	}
	a := sum.Account
	info.Rows, info.Finished, info.Done = a.Rows, a.Finished(), a.Done
	info.InProgress, info.Left = a.InFlight, a.Unfinished()

	r.mu.Lock()
	if len(r.meter.samples) == 0 {
		r.meter.observe(now.Add(-sum.Wall), 0)
	}
	perSec := r.meter.observe(now, sum.Downloaded+sum.Failed)
	r.mu.Unlock()
	info.PerMinute = perSec * 60
	if perSec > 0 && info.Left > 0 {
		info.ETA = time.Duration(float64(info.Left) / perSec * float64(time.Second)).Round(time.Second)
	}
	return info
}

// agree makes i tell the account a, the state file's, which status shows
// beside it: one set of numbers. The run's own counts lag the state's by
// the rows handed out and still waiting for a slot.
func (i *RunInfo) agree(a account.Ledger) {
	i.Rows, i.Finished, i.Done = a.Rows, a.Finished(), a.Done
	i.InProgress, i.Left = a.InFlight, a.Unfinished()
	i.ThisRun.Account = a
	i.ETA = 0
	if perSec := i.PerMinute / 60; perSec > 0 && i.Left > 0 {
		i.ETA = time.Duration(float64(i.Left) / perSec * float64(time.Second)).Round(time.Second)
	}
}

type sample struct {
	at time.Time
	n  int
}

// meter measures a count's rate over the last rateWindow.
type meter struct {
	samples []sample
}

// observe records n at t and returns the rate per second since the oldest
// sample kept (one at or before the window's start).
func (m *meter) observe(t time.Time, n int) float64 {
	if k := len(m.samples); k > 1 && t.Sub(m.samples[k-2].at) < time.Second {
		m.samples[k-1] = sample{t, n} // at most one sample a second
	} else {
		m.samples = append(m.samples, sample{t, n})
	}
	for len(m.samples) > 2 && t.Sub(m.samples[1].at) >= rateWindow {
		m.samples = m.samples[1:]
	}
	first := m.samples[0]
	dt := t.Sub(first.at).Seconds()
	if dt <= 0 || n <= first.n {
		return 0
	}
	return float64(n-first.n) / dt
}
