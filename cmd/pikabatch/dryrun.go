package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/store"
)

// errDryRunSent would mean a dry run tried to reach the API: a bug.
var errDryRunSent = errors.New("dry run: nothing may be sent")

// noAPI is the API of a dry run: every call fails, and none is made.
type noAPI struct{}

var _ runner.API = noAPI{}

func (noAPI) Submit(context.Context, string, any) (api.SubmitResponse, error) {
	return api.SubmitResponse{}, errDryRunSent
}
func (noAPI) Status(context.Context, string) (api.Status, error) { return api.Status{}, errDryRunSent }
func (noAPI) Result(context.Context, string) (api.Result, error) { return api.Result{}, errDryRunSent }
func (noAPI) Cancel(context.Context, string) error               { return errDryRunSent }

// noState is the state of a batch that never ran: every row is new.
type noState struct{}

var _ runner.Checkpoint = noState{}

func (noState) Get(context.Context, string) (store.Job, error) { return store.Job{}, store.ErrNotFound }
func (noState) Put(context.Context, store.Job) error           { return store.ErrReadOnly }
func (noState) Update(context.Context, string, func(*store.Job) error) (store.Job, error) {
	return store.Job{}, store.ErrReadOnly
}
func (noState) ForEach(context.Context, func(store.Job) error) error { return nil }

// dryRun prints the plan of a run against the state file; nothing is sent,
// and neither the output folder nor the state file is created or written.
func dryRun(ctx context.Context, o batchOptions, rows runner.RowSource, statePath string, readState bool, log *slog.Logger, stdout io.Writer) error {
	var cp runner.Checkpoint = noState{}
	if readState {
		st, err := store.Open(statePath, store.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer st.Close()
		// A dry run previews a run: one that would be refused is refused here.
		if err := bindState(ctx, st, o, log); err != nil {
			return err
		}
		cp = st
		entries, err := store.ReadJournal(statePath)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			// A run records them before planning; so does its preview.
			cp = journalOverlay{Checkpoint: st, entries: entries}
		}
	}
	r, err := runner.New(runner.Config{Model: o.model, OutDir: o.out, HoldUncertain: o.holdUncertain,
		MaxResends: o.maxResends, RetryFailed: o.retryFailed, Logger: log}, noAPI{}, cp)
	if err != nil {
		return err
	}
	p, err := r.Plan(ctx, rows)
	if err != nil {
		return err
	}
	if o.jsonSummary {
		writeJSON(stdout, p)
		return nil
	}
	fmt.Fprintf(stdout, "dry run: nothing sent. %d rows against %s:\n", p.Rows, statePath)
	line := func(n int, what string) {
		if n > 0 {
			fmt.Fprintf(stdout, "  %6d  %s\n", n, what)
		}
	}
	line(p.New, "new: would be submitted")
	line(p.Retry, "failed before: would be submitted again (--retry-failed)")
	line(p.Resend, "uncertain: would be re-sent once (each a possible duplicate charge)")
	line(p.Held, "uncertain: held, not re-sent")
	line(p.InFlight, "resumable: in flight on the API, would be polled")
	line(p.Download, "resumable: rendered, would be downloaded (no new render)")
	line(p.Done, "done: skipped")
	line(p.Failed, "failed, timed out, expired or cancelled: skipped (--retry-failed submits them again)")
	line(p.Changed, "changed since submitted: skipped and reported")
	line(p.ChangedInFlight, "of them in flight: the render of the old parameters would be collected")
	line(p.Orphans, "orphans: jobs of the state file no row claims; never submitted")
	line(p.OrphansInFlight, "of them in flight or not downloaded: would be collected")
	fmt.Fprintf(stdout, "at most %d paid submits\n", p.Submits)
	return nil
}

// manifestRows opens the manifest for streaming.
func manifestRows(path string, format manifest.Format) (*manifest.Reader, error) {
	rows, err := manifest.Open(path, format)
	if err != nil {
		return nil, manifestError(err)
	}
	return rows, nil
}

// journalOverlay is a read-only state seen as a run would see it after
// recording the recovery journal's request IDs.
type journalOverlay struct {
	runner.Checkpoint
	entries []store.JournalEntry
}

func (o journalOverlay) Get(ctx context.Context, key string) (store.Job, error) {
	j, err := o.Checkpoint.Get(ctx, key)
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
