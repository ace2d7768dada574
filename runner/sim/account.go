package sim

import (
	"encoding/hex"
	"time"
)

// Job states, as the API reports them and as JobInfo.State holds them.
const (
	StateInQueue    = "in_queue"
	StateInProgress = "in_progress"
	StateCompleted  = "completed"
	StateFailed     = "failed"
	StateCancelled  = "cancelled"
)

// outputsPerJob is the number of files a job produces: pika image-to-video
// returns one video.
const outputsPerJob = 1

// failureMessages are the errors a failed generation reports.
var failureMessages = []string{
	"generation failed: content moderation rejected the input",
	"generation failed: worker ran out of GPU memory",
	"generation failed: source image could not be fetched",
	"generation failed: internal error in the inference pipeline",
}

// failOnStart makes j fail as soon as it takes a slot, with msg, as a job
// whose input the API could not fetch: it never generates, so it neither
// runs its run time nor sticks.
func (j *job) failOnStart(msg string) {
	j.fails, j.failAsCompleted, j.failMessage = true, false, msg
	j.runTime, j.isStuck = 0, false
}

// job is one accepted submit. All fields are guarded by Server.mu.
type job struct {
	id    string
	seq   int64  // creation order, the tie-breaker for equal finish times
	qseq  int64  // position in the sequence of all jobs ever enqueued
	input []byte // canonical JSON
	price int64  // micro-dollars the job costs

	state      string
	createdAt  time.Time
	eligibleAt time.Time // createdAt + QueueTime
	startedAt  time.Time
	finishAt   time.Time // scheduled end of the run, set when started
	finishedAt time.Time // when it became completed, failed or cancelled
	runTime    time.Duration

	// Decided at creation from the job stream of the seeded RNG.
	fails           bool
	failAsCompleted bool // report the failure as status "completed" with an error string
	failMessage     string
	isStuck         bool // never finishes
	expireFirstURL  bool
	truncateFirst   bool

	gone gone // Server.Expire or Server.Disown was called

	// fetchURLs are the file inputs GET at the job's start (Config.FetchInputs):
	// until they have answered it holds its slot and cannot finish.
	fetchURLs []fetchInput

	urlsIssued      int
	costReads       int // result reads that asked for the cost (Config.LateCost)
	downloads       int
	firstResultAt   time.Time
	firstDownloadAt time.Time
}

// gone says why a job no longer answers as itself.
type gone uint8

const (
	goneNot          gone = iota
	goneExpired           // answers 404001
	goneOtherAccount      // answers 403001
)

// hasOutput reports whether the job's files exist.
func (j *job) hasOutput() bool { return j.state == StateCompleted }

// publicStatus is the status the API reports, which for a failed generation
// may read "completed".
func (j *job) publicStatus() string {
	if j.state == StateFailed && j.failAsCompleted {
		return StateCompleted
	}
	return j.state
}

// resultStatus is the status the result endpoint reports: "succeeded" where
// the status endpoint says "completed".
func (j *job) resultStatus() string {
	if j.state == StateCompleted {
		return statusSucceeded
	}
	return j.publicStatus()
}

// jobHeap is a min-heap of running jobs by finish time, then creation order.
// It is hand-rolled rather than container/heap to avoid boxing on the hot
// path.
type jobHeap []*job

func (h jobHeap) less(a, b int) bool {
	x, y := h[a], h[b]
	if !x.finishAt.Equal(y.finishAt) {
		return x.finishAt.Before(y.finishAt)
	}
	return x.seq < y.seq
}

func (h *jobHeap) push(j *job) {
	*h = append(*h, j)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *jobHeap) pop() *job {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = nil
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && q.less(l, m) {
			m = l
		}
		if r < len(q) && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// account is the simulated account: the FIFO queue, the running jobs and the
// event cursor. Guarded by Server.mu.
type account struct {
	slots int

	// queue holds enqueued jobs from qhead on; cancelled jobs stay in it
	// until they reach the head, so positions are computed, not shifted.
	queue    []*job
	qhead    int
	popped   int64   // jobs ever removed from the head: the qseq of queue[qhead]
	enqueued int64   // jobs ever enqueued: the next qseq
	queued   int     // live (not cancelled) jobs in the queue
	skipped  []int64 // sorted qseqs of cancelled jobs still in the queue

	running jobHeap // jobs holding a slot that will finish
	stuck   int     // jobs holding a slot forever (Faults.RateNeverFinish)
	cursor  time.Time

	fetching int    // started jobs whose inputs have not answered yet
	toFetch  []*job // started since the Server last took them, to fetch
}

// queuePosition is the number of live jobs ahead of j in the queue.
func (a *account) queuePosition(j *job) int {
	ahead := j.qseq - a.popped
	// Cancelled jobs ahead of j are few; count them by binary search.
	lo, hi := 0, len(a.skipped)
	for lo < hi {
		m := (lo + hi) / 2
		if a.skipped[m] < j.qseq {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return int(ahead) - lo
}

// enqueue appends j to the queue.
func (a *account) enqueue(j *job) {
	j.qseq = a.enqueued
	a.enqueued++
	a.queue = append(a.queue, j)
	a.queued++
}

// cancel removes a queued job from the live queue.
func (a *account) cancel(j *job, now time.Time) {
	j.state = StateCancelled
	j.finishedAt = now
	a.queued--
	i := len(a.skipped)
	for i > 0 && a.skipped[i-1] > j.qseq {
		i--
	}
	a.skipped = append(a.skipped, 0)
	copy(a.skipped[i+1:], a.skipped[i:])
	a.skipped[i] = j.qseq
}

// popHead removes and returns the job at the head of the queue, or nil.
func (a *account) popHead() *job {
	if a.qhead == len(a.queue) {
		return nil
	}
	j := a.queue[a.qhead]
	a.queue[a.qhead] = nil
	a.qhead++
	a.popped++
	// Compact once the dead prefix dominates, keeping appends amortised O(1).
	if a.qhead > 1024 && a.qhead > len(a.queue)/2 {
		n := copy(a.queue, a.queue[a.qhead:])
		clear(a.queue[n:])
		a.queue = a.queue[:n]
		a.qhead = 0
	}
	return j
}

// head returns the first live job of the queue, dropping cancelled ones.
func (a *account) head() *job {
	for a.qhead < len(a.queue) {
		j := a.queue[a.qhead]
		if j.state != StateCancelled {
			return j
		}
		a.popHead()
		a.skipped = a.skipped[1:]
	}
	return nil
}

// busy is the number of slots in use.
func (a *account) busy() int { return len(a.running) + a.stuck + a.fetching }

// advance moves the account to now, processing every start and finish that
// happened up to then in time order. onFinish is called for each job that
// reaches a final state.
func (a *account) advance(now time.Time, onFinish func(*job)) {
	for {
		var next *job
		if a.busy() < a.slots {
			next = a.head()
		}
		var first *job
		if len(a.running) > 0 {
			first = a.running[0]
		}
		if next != nil {
			start := next.eligibleAt
			if start.Before(a.cursor) {
				start = a.cursor
			}
			// A finish at the same instant goes first: it frees a slot and
			// never delays the start.
			if first == nil || start.Before(first.finishAt) {
				if start.After(now) {
					return
				}
				a.start(a.popHeadLive(), start)
				continue
			}
		}
		if first == nil || first.finishAt.After(now) {
			return
		}
		a.finish(a.running.pop(), onFinish)
	}
}

// popHeadLive pops the head after head() has dropped cancelled jobs.
func (a *account) popHeadLive() *job {
	a.queued--
	return a.popHead()
}

func (a *account) start(j *job, at time.Time) {
	a.cursor = at
	j.state = StateInProgress
	j.startedAt = at
	if len(j.fetchURLs) > 0 {
		// It holds its slot but is not scheduled to finish until its
		// inputs have answered: see fetched.
		a.fetching++
		a.toFetch = append(a.toFetch, j)
		return
	}
	if j.isStuck {
		// It runs on its GPU forever: the slot is never freed.
		a.stuck++
		return
	}
	j.finishAt = at.Add(j.runTime)
	a.running.push(j)
}

// fetched schedules j, which started with inputs to fetch, once they have
// answered at at: a failure ends it then, as a job that never generates;
// otherwise it finishes at the end of its run time, or at at if later.
func (a *account) fetched(j *job, at time.Time, failure string) {
	a.fetching--
	j.fetchURLs = nil
	switch {
	case failure != "":
		j.failOnStart(failure)
		j.finishAt = at
	case j.isStuck:
		a.stuck++
		return
	default:
		j.finishAt = j.startedAt.Add(j.runTime)
		if at.After(j.finishAt) {
			j.finishAt = at
		}
	}
	a.running.push(j)
}

func (a *account) finish(j *job, onFinish func(*job)) {
	if j.finishAt.After(a.cursor) {
		a.cursor = j.finishAt
	}
	j.finishedAt = j.finishAt
	if j.fails {
		j.state = StateFailed
	} else {
		j.state = StateCompleted
	}
	onFinish(j)
}

// idPrefixLen is the number of hex digits of Config.IDPrefix: the first two
// groups of a request ID.
const idPrefixLen = 12

// newRequestID formats a version-4 UUID whose first 12 hex digits are prefix
// and whose other bits come from hi and lo.
func newRequestID(prefix string, hi, lo uint64) string {
	var b [16]byte
	_, _ = hex.Decode(b[:idPrefixLen/2], []byte(prefix)) // checked by withDefaults
	for i := range 8 {
		b[6+i] = byte(hi >> (8 * i))
	}
	b[14], b[15] = byte(lo), byte(lo>>8)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
