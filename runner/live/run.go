package live

import (
	"sync"
	"time"

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
	Snapshot func() Figures
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
	// including rows done before this run; Left the rest.
	Rows     int `json:"rows"`
	Finished int `json:"finished"`
	Done     int `json:"done"`
	Left     int `json:"left"`
	// InProgress is rows read from the manifest and not yet ended.
	InProgress int       `json:"in_progress"`
	ThisRun    Figures   `json:"this_run"`
	Calls      api.Calls `json:"api_calls"`
	// PerMinute is jobs finished by this run per minute, over the last
	// few minutes; ETA is Left at that pace (0 while unknown).
	PerMinute float64       `json:"jobs_per_minute"`
	ETA       time.Duration `json:"eta_ns"`
}

// Info returns the run's progress now.
func (r *Run) Info(now time.Time) RunInfo {
	var sum Figures
	if r.Snapshot != nil {
		sum = r.Snapshot()
	}
	info := RunInfo{PID: r.Owner.PID, Host: r.Owner.Host, StartedAt: r.Owner.StartedAt,
		Command: r.Owner.Command, Rows: r.Rows, ThisRun: sum}
	if r.Calls != nil {
		info.Calls = r.Calls()
	}
	ended := 0
	for st, n := range sum.Final {
		ended += n
		if st.IsTerminal() {
			info.Finished += n
		}
	}
	info.Done = sum.Final[store.StateDone]
	info.InProgress = max(sum.Rows-ended, 0)
	info.Left = max(r.Rows-info.Finished, 0)

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

// Figures are a live run's counts so far: RunInfo.ThisRun, on the control
// socket and in `pikabatch status --json`. They are this package's wire
// format, owned here rather than borrowed from the runner's summary, so
// that live does not depend on the runner and a change to the runner's
// account does not silently change what the socket sends. The JSON names
// are those of runner.Summary, which the caller copies them from
// (cmd/pikabatch tests that the two encode alike).
type Figures struct {
	Rows            int            `json:"rows"`
	Submitted       int            `json:"submitted"`  // accepted submits this run (incl. re-sent)
	Resent          int            `json:"resent"`     // uncertain submits re-sent: up to this many duplicate charges
	Uncertain       int            `json:"uncertain"`  // submits whose outcome was lost this run
	Held            int            `json:"held"`       // uncertain rows left unsent
	Completed       int            `json:"completed"`  // jobs seen completed this run
	Downloaded      int            `json:"downloaded"` // jobs downloaded this run
	Failed          int            `json:"failed"`     // jobs that failed this run
	FailReasons     map[string]int `json:"fail_reasons,omitempty"`
	SkippedDone     int            `json:"skipped_done"`     // already done, file present
	Changed         int            `json:"changed"`          // parameters changed since submit: skipped
	NotSubmitted    int            `json:"not_submitted"`    // left pending (stopped, capped)
	LeftInFlight    int            `json:"left_in_flight"`   // submitted, not finished when the run stopped
	Polls           int            `json:"polls"`            // status/result calls spent polling
	DownloadRetries int            `json:"download_retries"` // cut-off or failed downloads retried
	URLRefreshes    int            `json:"url_refreshes"`    // expired result URLs refreshed
	// AccountJobs is how many jobs at once the account was seen to take
	// when it refused more than the run's concurrency (0: it never did).
	AccountJobs int `json:"account_jobs_at_once,omitempty"`
	// Parked jobs kept failing on their own calls while others' went
	// through: left in flight for the next run.
	Parked int `json:"parked,omitempty"`
	// StatusWords counts the looks answered with a status word outside the
	// API's docs, by word.
	StatusWords map[string]int      `json:"status_words,omitempty"`
	Final       map[store.State]int `json:"final"` // every row's state so far
	Wall        time.Duration       `json:"wall_ns"`
	// Orphans are the state file's jobs that no row of the manifest claims;
	// OrphanKeys the first few. Of those with a render in flight
	// (OrphansInFlight), OrphansCollected were downloaded and
	// OrphansFailed failed.
	Orphans          int      `json:"orphans"`
	OrphanKeys       []string `json:"orphan_keys,omitempty"`
	OrphansInFlight  int      `json:"orphans_in_flight,omitempty"`
	OrphansCollected int      `json:"orphans_collected,omitempty"`
	OrphansFailed    int      `json:"orphans_failed,omitempty"`
	// FailedBefore counts rows skipped because they failed in an earlier
	// run; FailedBeforeKeys the first few.
	FailedBefore     int      `json:"failed_before,omitempty"`
	FailedBeforeKeys []string `json:"failed_before_keys,omitempty"`
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
