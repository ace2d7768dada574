package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/store"
)

// Plan is what a run would do with each row of a manifest, judged against
// the state file alone: the dry run. Every row is in exactly one count.
type Plan struct {
	Rows int `json:"rows"`
	// New rows have never been submitted (or provably never reached the
	// API): a run submits them.
	New int `json:"new"`
	// Retry rows failed, timed out, expired or were cancelled, and
	// RetryFailed submits them again.
	Retry int `json:"retry"`
	// InFlight rows have a request ID and no result yet: a run polls them.
	InFlight int `json:"in_flight"`
	// Download rows are rendered (or done with the file missing or
	// damaged): a run downloads them, with no new render.
	Download int `json:"download"`
	// Resend rows lost their submit's answer: a run re-sends each once (a
	// possible duplicate charge). Held ones stay unsent (HoldUncertain, or
	// already re-sent MaxResends times).
	Resend int `json:"resend"`
	Held   int `json:"held"`
	// Done rows are done with their file present: skipped.
	Done int `json:"done"`
	// Failed rows ended failed, timed out, expired or cancelled: skipped
	// (see Retry).
	Failed int `json:"failed"`
	// Changed rows differ from what was submitted for their key: skipped
	// and reported. ChangedInFlight of them have a render of the old
	// parameters in flight (or not downloaded): a run collects it.
	Changed         int `json:"changed"`
	ChangedInFlight int `json:"changed_in_flight"`
	// Submits is the most paid submits the run would send: New, Retry and
	// Resend.
	Submits int `json:"submits"`
	// Orphans are jobs of the state file that no row claims (not rows, so
	// in no count above): never submitted; OrphansInFlight of them have a
	// render in flight or not downloaded, which a run collects.
	Orphans         int `json:"orphans"`
	OrphansInFlight int `json:"orphans_in_flight"`
}

// JobReader is the part of the store planning reads. *store.Store
// implements it, and so does every Checkpoint.
type JobReader interface {
	// Get returns the job recorded under key, or an error matching
	// store.ErrNotFound when there is none.
	Get(ctx context.Context, key string) (store.Job, error)
}

var _ JobReader = (*store.Store)(nil)

// WithJournal returns jobs as a run sees them once it has recorded the
// recovery journal's entries (store.Open does that for a run): a dry run
// reads a read-only store, which cannot record them.
func WithJournal(jobs JobReader, entries []store.JournalEntry) JobReader {
	if len(entries) == 0 {
		return jobs
	}
	return journaled{jobs: jobs, entries: entries}
}

// journaled is a JobReader with the recovery journal's entries applied.
type journaled struct {
	jobs    JobReader
	entries []store.JournalEntry
}

func (o journaled) Get(ctx context.Context, key string) (store.Job, error) {
	j, err := o.jobs.Get(ctx, key)
	for _, e := range o.entries {
		if e.Key != key {
			continue
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			j, err = e.Job(), nil
		case err == nil:
			e.Apply(&j)
		}
	}
	return j, err
}

// PlanOptions are the settings that decide what a row needs. Zero values
// take the defaults Config documents.
type PlanOptions struct {
	// OutDir is the output folder, where done rows' files are looked for.
	OutDir string
	// FS is the file system seam; default the real one.
	FS FS
	// RetryFailed, HoldUncertain and MaxResends are Config's.
	RetryFailed   bool
	HoldUncertain bool
	MaxResends    int
	// Logger, if set, gets the warnings a run logs while planning (changed
	// rows, missing files); default none.
	Logger *slog.Logger
}

func (o PlanOptions) withDefaults() PlanOptions {
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.MaxResends <= 0 {
		o.MaxResends = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// PlanRows reads every row of src and says what a run would do with it,
// judged against jobs, without sending anything or writing anything.
// jobs may be nil: a batch that never ran, where every row is new. When
// jobs can list the jobs no row claims (*store.Store), they are counted
// as orphans.
func PlanRows(ctx context.Context, src RowSource, jobs JobReader, opts PlanOptions) (Plan, error) {
	opts = opts.withDefaults()
	present := (&downloader{fs: opts.FS, dir: opts.OutDir}).present
	var p Plan
	seen := newSeenKeys(0)
	for {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		row, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return p, fmt.Errorf("read manifest: %w", err)
		}
		p.Rows++
		seen.add(row.Key)
		job, d, err := planRow(ctx, jobs, row, opts, present, time.Now)
		if err != nil {
			return p, err
		}
		logDecision(opts.Logger, row, job, d)
		p.count(job, d, opts)
	}
	p.Submits = p.New + p.Retry + p.Resend
	if sc, ok := jobs.(orphanScanner); ok {
		err := sc.Unclaimed(ctx, seen.claims, func(j store.Job) error {
			p.Orphans++
			if orphanAction(j) != actSkip {
				p.OrphansInFlight++
			}
			return nil
		})
		if err != nil {
			return p, fmt.Errorf("find orphans: %w", err)
		}
	}
	return p, nil
}

// Plan is PlanRows against the runner's store and settings.
func (r *Runner) Plan(ctx context.Context, src RowSource) (Plan, error) {
	return PlanRows(ctx, src, r.store, r.planOptions())
}

func (r *Runner) planOptions() PlanOptions {
	return PlanOptions{OutDir: r.cfg.OutDir, FS: r.cfg.FS, RetryFailed: r.cfg.RetryFailed,
		HoldUncertain: r.cfg.HoldUncertain, MaxResends: r.cfg.MaxResends, Logger: r.log}
}

// count adds one row's decision to the plan.
func (p *Plan) count(job store.Job, d decision, opts PlanOptions) {
	if d.changed {
		p.Changed++
		if d.act != actSkip {
			p.ChangedInFlight++
		}
		return
	}
	switch d.act {
	case actSubmit:
		if job.State.IsTerminal() {
			p.Retry++
		} else {
			p.New++
		}
	case actResend:
		if opts.HoldUncertain || job.Resent >= opts.MaxResends {
			p.Held++
		} else {
			p.Resend++
		}
	case actPoll:
		p.InFlight++
	case actDownload:
		p.Download++
	case actSkip:
		if job.State == store.StateDone {
			p.Done++
		} else {
			p.Failed++
		}
	}
}

type action int

const (
	actSkip     action = iota
	actSubmit          // pending: submit it
	actResend          // uncertain: re-send once per policy
	actPoll            // has a request ID: poll it
	actDownload        // rendered: download it
)

// decision is what one row needs.
type decision struct {
	act action
	// changed: the row differs from what was submitted under its key. Its
	// render of the old parameters, if any, is collected under that key;
	// the row is never submitted again.
	changed bool
	// refetch: the row is done but its files are missing or damaged.
	refetch bool
}

// planRow reads the row's job from jobs (nil: none recorded) and decides
// what the row needs. A row with no job gets a new pending one, stamped
// now. present says whether a done job's files are on disk; it is only
// asked about done jobs of unchanged rows.
func planRow(ctx context.Context, jobs JobReader, row manifest.Row, opts PlanOptions,
	present func(store.Job) bool, now func() time.Time) (store.Job, decision, error) {
	hash := row.Input.Hash()
	if job, ok := settledJob(ctx, jobs, row.Key, hash, present); ok {
		return job, decision{act: actSkip}, nil
	}
	job, err := store.Job{}, store.ErrNotFound
	if jobs != nil {
		job, err = jobs.Get(ctx, row.Key)
	}
	if errors.Is(err, store.ErrNotFound) {
		body, err := json.Marshal(row.Input)
		if err != nil {
			return store.Job{}, decision{}, fmt.Errorf("encode row %d: %w", row.Line, err)
		}
		job = store.Job{Key: row.Key, ParamHash: hash, Line: row.Line, Input: body,
			State: store.StatePending, CreatedAt: now(), Columns: row.Kept}
		return job, decision{act: actSubmit}, nil
	}
	if err != nil {
		return job, decision{}, fmt.Errorf("plan row %q: %w", row.Key, err)
	}
	filesPresent := job.State == store.StateDone && job.ParamHash == hash && present(job)
	d, err := decide(hash, job, filesPresent, opts)
	return job, d, err
}

// settledReader reads the Settled part of a job (*store.Store).
type settledReader interface {
	GetSettled(ctx context.Context, key string) (store.Settled, error)
}

// settledJob returns, when jobs can tell it cheaply, the job under key if
// it is done with the parameters that hash to hash and its files in
// place: the row is skipped, as decide would, and only the fields the
// skip reads (key, state, orphan flag) are needed. Anything else, or any
// error, is left to the whole record.
func settledJob(ctx context.Context, jobs JobReader, key, hash string, present func(store.Job) bool) (store.Job, bool) {
	sr, ok := jobs.(settledReader)
	if !ok {
		return store.Job{}, false
	}
	st, err := sr.GetSettled(ctx, key)
	if err != nil || st.State != store.StateDone || st.ParamHash != hash {
		return store.Job{}, false
	}
	job := store.Job{Key: st.Key, State: st.State, Orphan: st.Orphan, ParamHash: st.ParamHash,
		RequestID: st.RequestID, Outputs: st.Outputs}
	return job, present(job)
}

// decide says what a row whose parameters hash to hash needs, given the
// job recorded under its key. filesPresent reports whether that job's
// files are all on disk as downloaded (it matters only for a done job).
func decide(hash string, job store.Job, filesPresent bool, opts PlanOptions) (decision, error) {
	if job.ParamHash != hash {
		// Its render of the old parameters is paid for: collected under
		// its recorded key, never submitted again.
		return decision{act: orphanAction(job), changed: true}, nil
	}
	switch job.State {
	case store.StatePending:
		return decision{act: actSubmit}, nil
	case store.StateSubmitting, store.StateUncertain:
		return decision{act: actResend}, nil
	case store.StateSubmitted, store.StateQueued, store.StateRunning:
		return decision{act: actPoll}, nil
	case store.StateRendered:
		return decision{act: actDownload}, nil
	case store.StateDone:
		if filesPresent {
			return decision{act: actSkip}, nil
		}
		return decision{act: actDownload, refetch: true}, nil
	case store.StateFailed, store.StateTimedOut, store.StateExpired, store.StateCancelled:
		if opts.RetryFailed {
			return decision{act: actSubmit}, nil // a timed-out one is looked at first (run.onAPI)
		}
		if job.State == store.StateTimedOut && job.RequestID != "" {
			// Given up on by --job-timeout, perhaps still paid for: one
			// more look collects it if it completed since.
			return decision{act: actPoll}, nil
		}
		return decision{act: actSkip}, nil
	}
	return decision{}, fmt.Errorf("row %q: unknown state %q in store", job.Key, job.State)
}

// logDecision logs what a run says of a row while planning it.
func logDecision(log *slog.Logger, row manifest.Row, job store.Job, d decision) {
	switch {
	case d.changed && d.act != actSkip:
		log.Warn("row changed since it was submitted; not submitted again, collecting the render of its old parameters",
			"key", row.Key, "line", row.Line, "state", string(job.State), "request_id", job.RequestID)
	case d.changed:
		log.Warn("row changed since it was submitted; skipped", "key", row.Key, "line", row.Line,
			"state", string(job.State), "request_id", job.RequestID)
	case d.refetch:
		log.Info("file missing or damaged; downloading again", "key", job.Key, "request_id", job.RequestID)
	}
}
