package bucketsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/store"
)

// Uploader is the part of a bucket client a Syncer uses. *bucket.Client
// implements it.
type Uploader interface {
	// Upload writes src to l unless an object with src's size and SHA-256
	// is there already, and reports whether it wrote. It is idempotent, and
	// the object appears whole or not at all. An error of src (opening or
	// reading it) comes back wrapped, so errors.Is finds it; any other
	// error is the bucket's, already retried as far as the driver does.
	Upload(ctx context.Context, l bucket.Location, src bucket.Source) (bool, error)
	// Put writes src to l without looking first; otherwise as Upload.
	Put(ctx context.Context, l bucket.Location, src bucket.Source) error
}

var _ Uploader = (*bucket.Client)(nil)

// Records is the part of the state a Syncer uses. *store.Store implements
// it.
type Records interface {
	// RecordCopy durably records an upload, keyed by the object's name.
	RecordCopy(ctx context.Context, object string, c store.Copy) error
	// Unsynced lists the done jobs' files without a recorded copy of
	// their size and digest; fn may call RecordCopy.
	Unsynced(ctx context.Context, objectOf func(path string) string, fn func(key string, files []store.Output) error) error
	// SetMeta records a small string about the batch.
	SetMeta(ctx context.Context, key, value string) error
}

// MetaKey is the state's record of the bucket prefix a batch's files were
// last copied to (a bucket URL with the driver's options, no credentials):
// verify checks the copies there.
const MetaKey = "sync_to"

var _ Records = (*store.Store)(nil)

// ErrWaiting: files of the batch were not copied to the bucket (it could
// not be reached, or a local file did not match the state); they wait
// for the next run. Nothing else about the batch is wrong.
var ErrWaiting = errors.New("copies wait for the next run")

// ErrUnreachable: a bucket could not be asked what it holds; nothing was
// done that depended on the answer. Try again later.
var ErrUnreachable = errors.New("bucket cannot be reached")

// WaitingError is Finish's error when files wait: how many, and the
// bucket's error that stopped the uploads (nil when only local files were
// at fault). errors.Is(err, ErrWaiting) holds.
type WaitingError struct {
	Files int
	Cause error
}

func (e *WaitingError) Error() string {
	if errors.Is(e.Cause, bucket.ErrDenied) {
		return fmt.Sprintf("%d files not copied: the bucket refused access; check the credentials and the bucket's policy, "+
			"then run again to copy them: %v", e.Files, e.Cause)
	}
	s := fmt.Sprintf("%d files not copied to the bucket; the next run copies them", e.Files)
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns ErrWaiting and the cause.
func (e *WaitingError) Unwrap() []error {
	if e.Cause == nil {
		return []error{ErrWaiting}
	}
	return []error{ErrWaiting, e.Cause}
}

// Config holds a Syncer's settings. Zero values take the defaults.
type Config struct {
	// To is the bucket prefix the batch's files are copied under, by
	// their path in Dir; required.
	To bucket.Location
	// Dir is the batch's output folder; required.
	Dir string
	// Workers bounds the uploads at once. Default 8.
	Workers int
	Logger  *slog.Logger
}

// Report is what a Syncer did.
type Report struct {
	Uploaded int   `json:"uploaded"` // files sent
	Present  int   `json:"present"`  // already in the bucket with their size and digest
	Bytes    int64 `json:"bytes"`    // sent
	// Waiting are the files not copied, left for the next run.
	Waiting int `json:"waiting"`
}

// Syncer copies a batch's files to a bucket prefix. Start it, hand it
// each job whose files are safe on disk (Saved), and Finish it once the
// run's work has ended. Its methods are safe for concurrent use.
type Syncer struct {
	cfg Config
	up  Uploader
	rec Records
	log *slog.Logger

	mu      sync.RWMutex      // held shared by a send to queue, exclusively to close it
	queue   chan store.Output // files just saved: no copy of them can exist yet
	started bool
	closed  bool
	workers sync.WaitGroup

	down     chan struct{} // closed when the bucket failed: the rest wait
	downOnce sync.Once
	downErr  error // set before down is closed

	uploaded, present, local atomic.Int64
	bytes                    atomic.Int64
}

// New checks cfg and returns a Syncer that has not started.
func New(cfg Config, up Uploader, rec Records) (*Syncer, error) {
	if cfg.To.Bucket == "" {
		return nil, errors.New("bucketsync: a bucket prefix is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("bucketsync: the output folder is required")
	}
	if up == nil || rec == nil {
		return nil, errors.New("bucketsync: an uploader and the state are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{cfg: cfg, up: up, rec: rec, log: cfg.Logger,
		// A short queue: a bucket slower than the downloads holds the
		// downloads back rather than piling files up in memory.
		queue: make(chan store.Output, cfg.Workers),
		down:  make(chan struct{}),
	}, nil
}

// Start starts the uploaders; they stop when ctx ends or Finish is called.
// Calling it twice starts them once.
func (s *Syncer) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	if err := s.rec.SetMeta(ctx, MetaKey, s.cfg.To.String()); err != nil {
		// Only verify reads it, and says when it finds none.
		s.log.Warn("bucket prefix not recorded", "err", err)
	}
	for range s.cfg.Workers {
		s.workers.Go(func() {
			for o := range s.queue {
				s.upload(ctx, o, true)
			}
		})
	}
}

// Saved hands the syncer a job whose files are fsynced in the output
// folder and recorded done. It returns once each file is queued, at once
// when the bucket has failed (the files then wait for the next run), when
// ctx ends, or after Finish.
func (s *Syncer) Saved(ctx context.Context, job store.Job) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.started || s.closed {
		return
	}
	for _, o := range job.Outputs {
		if o.Path == "" {
			continue
		}
		select {
		case s.queue <- o:
		case <-s.down:
			return
		case <-ctx.Done():
			return
		}
	}
}

// Finish waits for the files handed over, then copies every done file the
// state records no copy of (files of earlier runs, waiting since the
// bucket failed), then extras (files in the output folder by name, such
// as the index), each only when the bucket lacks it as it is now. It
// returns what was done and, when files were left uncopied, a
// *WaitingError. It must be called once, after the last Saved.
func (s *Syncer) Finish(ctx context.Context, extras ...string) (Report, error) {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	s.workers.Wait()

	if !s.isDown() && ctx.Err() == nil {
		if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			return s.report(0), err
		}
	}
	extraWaiting := 0
	for _, name := range extras {
		if !s.uploadExtra(ctx, name) {
			extraWaiting++
		}
	}
	// Counted from the state, whatever happened above: the next run's list.
	waiting, err := s.countWaiting(context.WithoutCancel(ctx))
	if err != nil {
		return s.report(0), err
	}
	rep := s.report(waiting + extraWaiting)
	s.log.Info("bucket copies", "to", s.cfg.To.String(), "uploaded", rep.Uploaded, "present", rep.Present,
		"bytes", rep.Bytes, "waiting", rep.Waiting)
	if rep.Waiting > 0 {
		var cause error
		if s.isDown() {
			cause = s.downErr
		}
		return rep, &WaitingError{Files: rep.Waiting, Cause: cause}
	}
	return rep, nil
}

func (s *Syncer) report(waiting int) Report {
	return Report{Uploaded: int(s.uploaded.Load()), Present: int(s.present.Load()), Bytes: s.bytes.Load(), Waiting: waiting}
}

// errStopSweep ends a sweep once the bucket has failed.
var errStopSweep = errors.New("bucket failed")

// sweep copies every done file the state records no copy of.
func (s *Syncer) sweep(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Workers)
	err := s.rec.Unsynced(gctx, s.objectOf, func(_ string, files []store.Output) error {
		for _, o := range files {
			if s.isDown() || gctx.Err() != nil {
				return errStopSweep
			}
			g.Go(func() error {
				s.upload(gctx, o, false)
				return nil
			})
		}
		return nil
	})
	if werr := g.Wait(); err == nil {
		err = werr
	}
	if errors.Is(err, errStopSweep) {
		return nil
	}
	return err
}

// countWaiting counts the done files the state records no copy of.
func (s *Syncer) countWaiting(ctx context.Context) (int, error) {
	n := 0
	err := s.rec.Unsynced(ctx, s.objectOf, func(_ string, files []store.Output) error {
		n += len(files)
		return nil
	})
	return n, err
}

// objectOf is the record name of the copy of the file at path in Dir.
func (s *Syncer) objectOf(path string) string {
	return ObjectName(s.cfg.To.Join(filepath.ToSlash(path)))
}

// ObjectName is the name the state records an object's copy under: its
// bucket URL without the driver's options (a region or an endpoint may be
// given another way next time; the object is the same).
func ObjectName(l bucket.Location) string {
	return l.Scheme + "://" + l.Bucket + "/" + l.Key
}

// Waiting counts the done files of the state recs that hold no recorded
// copy under the prefix to: the files the next run copies.
func Waiting(ctx context.Context, to bucket.Location, recs Records) (int, error) {
	s := &Syncer{cfg: Config{To: to}, rec: recs}
	return s.countWaiting(ctx)
}

func (s *Syncer) isDown() bool {
	select {
	case <-s.down:
		return true
	default:
		return false
	}
}

// fail records that the bucket failed: the uploads not started yet wait
// for the next run, since each would fail the same way after its own
// retries.
func (s *Syncer) fail(err error) {
	s.downOnce.Do(func() {
		s.downErr = err
		close(s.down)
		msg := "bucket unreachable: copies wait for the next run"
		if errors.Is(err, bucket.ErrDenied) {
			msg = "bucket refused access: copies wait for the next run"
		}
		s.log.Warn(msg, "to", s.cfg.To.String(), "err", err)
	})
}
