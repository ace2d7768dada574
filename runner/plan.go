package runner

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	ChangedInFlight int `json:"changed_in_flight,omitempty"`
	// Submits is the most paid submits the run would send: New, Retry and
	// Resend.
	Submits int `json:"submits"`
	// Orphans are jobs of the state file that no row claims (not rows, so
	// in no count above): never submitted; OrphansInFlight of them have a
	// render in flight or not downloaded, which a run collects.
	Orphans         int `json:"orphans"`
	OrphansInFlight int `json:"orphans_in_flight,omitempty"`
}

// Plan reads every row of src and says what Run would do with it, without
// sending anything or writing the store.
func (r *Runner) Plan(ctx context.Context, src RowSource) (Plan, error) {
	var p Plan
	seen := newSeenKeys()
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
		job, act, err := r.plan(ctx, row)
		if err != nil {
			return p, err
		}
		if job.ParamHash != row.Input.Hash() {
			p.Changed++
			if act != actSkip {
				p.ChangedInFlight++
			}
			continue
		}
		switch act {
		case actSubmit:
			if job.State.IsTerminal() {
				p.Retry++
			} else {
				p.New++
			}
		case actResend:
			if r.cfg.HoldUncertain || job.Resent >= r.cfg.MaxResends {
				p.Held++
			} else {
				p.Resend++
			}
		case actPoll:
			p.InFlight++
		case actDownload:
			p.Download++
		case actSkip:
			switch {
			case job.State == store.StateDone:
				p.Done++
			default:
				p.Failed++
			}
		}
	}
	p.Submits = p.New + p.Retry + p.Resend
	if sc, ok := r.store.(orphanScanner); ok {
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
