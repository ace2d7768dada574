package runner

import "sync"

// dirSyncer makes renames into one folder durable with as few fsyncs of
// the folder as it can. Each caller needs an fsync that starts after its
// rename; callers that arrive while one runs share the next. On ext4 a
// folder's fsync commits the journal, and file creations in the folder
// wait for it: one fsync per download held a 2,000-row run at ~630 jobs/s
// where sharing them reaches ~900 (BenchmarkRun).
//
// Its rounds run on a goroutine of its own, started when a caller comes
// and ended when nobody waits; its owner calls Close, which waits for that
// goroutine, once no download can still be running.
type dirSyncer struct {
	sync func() error

	loops   sync.WaitGroup // the goroutine running rounds, if any
	mu      sync.Mutex
	running bool
	closed  bool       // Close was called: Sync syncs on the caller's goroutine
	next    *syncRound // the round callers join; it has not started
}

// syncRound is one fsync of the folder and the callers waiting for it.
type syncRound struct {
	done chan struct{}
	err  error
}

func newDirSyncer(sync func() error) *dirSyncer { return &dirSyncer{sync: sync} }

// Sync returns when an fsync of the folder that started after the call has
// ended, with its error.
func (s *dirSyncer) Sync() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.sync() // nobody to share with: the run is over
	}
	if s.next == nil {
		s.next = &syncRound{done: make(chan struct{})}
	}
	r := s.next
	if !s.running {
		s.running = true
		s.loops.Go(s.loop)
	}
	s.mu.Unlock()
	<-r.done
	return r.err
}

// Close waits until the goroutine running rounds has ended. A Sync after
// it fsyncs on its caller's goroutine. It is safe to call twice.
func (s *dirSyncer) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.loops.Wait()
}

// loop runs rounds one after another until nobody waits.
func (s *dirSyncer) loop() {
	for {
		s.mu.Lock()
		r := s.next
		s.next = nil
		if r == nil {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		r.err = s.sync()
		close(r.done)
	}
}
