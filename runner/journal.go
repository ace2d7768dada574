package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/pikabatch/pikabatch/store"
)

// journaler is a Checkpoint with a recovery journal for request IDs it
// could not record (*store.Store): the next Open records them.
type journaler interface {
	Journal(ctx context.Context, key, requestID string, at time.Time) error
}

var _ journaler = (*store.Store)(nil)

// requestIDNotRecorded handles the one write whose loss costs money: the
// API created a job (a paid render) and the state file would not take its
// request ID. The ID is logged at once and appended to the recovery
// journal, submits stop, and the error ends the run: a state that cannot be
// written cannot track the jobs already out either. job is the row as it
// was before the failed write.
func (r *run) requestIDNotRecorded(ctx context.Context, job store.Job, requestID string, at time.Time, cause error) (store.Job, error) {
	r.log.Error("job submitted but its request ID could not be recorded in the state file; keeping it in the recovery journal",
		"key", job.Key, "request_id", requestID, "err", cause)
	err := fmt.Errorf("record request ID %s of %q: %w", requestID, job.Key, cause)
	r.stopSubmitting(err)
	j, ok := r.store.(journaler)
	if !ok {
		return job, err
	}
	if jerr := j.Journal(ctx, job.Key, requestID, at); jerr != nil {
		r.log.Error("request ID not journaled either: only this log has it", "key", job.Key, "request_id", requestID, "err", jerr)
		return job, fmt.Errorf("%w (not journaled either: %w)", err, jerr)
	}
	return job, err
}
