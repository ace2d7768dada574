package runner

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/store"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	const hash = "h1"
	job := func(s store.State, requestID string) store.Job {
		return store.Job{Key: "k", ParamHash: hash, State: s, RequestID: requestID}
	}
	cases := []struct {
		name         string
		hash         string // the row's; default hash
		job          store.Job
		filesPresent bool
		opts         PlanOptions
		want         decision
	}{
		{name: "pending is submitted", job: job(store.StatePending, ""), want: decision{act: actSubmit}},
		{name: "submitting is re-sent", job: job(store.StateSubmitting, ""), want: decision{act: actResend}},
		{name: "uncertain is re-sent", job: job(store.StateUncertain, ""), want: decision{act: actResend}},
		{name: "uncertain held is still a re-send decision", job: job(store.StateUncertain, ""),
			opts: PlanOptions{HoldUncertain: true}, want: decision{act: actResend}},
		{name: "submitted is polled", job: job(store.StateSubmitted, "r"), want: decision{act: actPoll}},
		{name: "queued is polled", job: job(store.StateQueued, "r"), want: decision{act: actPoll}},
		{name: "running is polled", job: job(store.StateRunning, "r"), want: decision{act: actPoll}},
		{name: "rendered is downloaded", job: job(store.StateRendered, "r"), want: decision{act: actDownload}},
		{name: "done with files is skipped", job: job(store.StateDone, "r"), filesPresent: true,
			want: decision{act: actSkip}},
		{name: "done without files is fetched again", job: job(store.StateDone, "r"),
			want: decision{act: actDownload, refetch: true}},
		{name: "failed is skipped", job: job(store.StateFailed, "r"), want: decision{act: actSkip}},
		{name: "expired is skipped", job: job(store.StateExpired, "r"), want: decision{act: actSkip}},
		{name: "cancelled is skipped", job: job(store.StateCancelled, "r"), want: decision{act: actSkip}},
		{name: "failed with retry is submitted", job: job(store.StateFailed, "r"),
			opts: PlanOptions{RetryFailed: true}, want: decision{act: actSubmit}},
		{name: "timed out with request ID gets one more look", job: job(store.StateTimedOut, "r"),
			want: decision{act: actPoll}},
		{name: "timed out without request ID is skipped", job: job(store.StateTimedOut, ""),
			want: decision{act: actSkip}},
		{name: "timed out with retry is submitted", job: job(store.StateTimedOut, "r"),
			opts: PlanOptions{RetryFailed: true}, want: decision{act: actSubmit}},
		{name: "changed and running collects the old render", hash: "h2", job: job(store.StateRunning, "r"),
			want: decision{act: actPoll, changed: true}},
		{name: "changed and rendered collects the old render", hash: "h2", job: job(store.StateRendered, "r"),
			want: decision{act: actDownload, changed: true}},
		{name: "changed and done is skipped", hash: "h2", job: job(store.StateDone, "r"),
			want: decision{act: actSkip, changed: true}},
		{name: "changed and failed is skipped even with retry", hash: "h2", job: job(store.StateFailed, "r"),
			opts: PlanOptions{RetryFailed: true}, want: decision{act: actSkip, changed: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := c.hash
			if h == "" {
				h = hash
			}
			got, err := decide(h, c.job, c.filesPresent, c.opts)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestDecideUnknownState(t *testing.T) {
	t.Parallel()
	_, err := decide("h", store.Job{Key: "k", ParamHash: "h", State: "bogus"}, false, PlanOptions{})
	require.ErrorContains(t, err, `row "k": unknown state "bogus" in store`)
}

// jobMap is a JobReader over a map.
type jobMap map[string]store.Job

func (m jobMap) Get(_ context.Context, key string) (store.Job, error) {
	if j, ok := m[key]; ok {
		return j, nil
	}
	return store.Job{}, store.ErrNotFound
}

// rowList is a RowSource over a slice.
type rowList []manifest.Row

func (l *rowList) Next() (manifest.Row, error) {
	if len(*l) == 0 {
		return manifest.Row{}, io.EOF
	}
	r := (*l)[0]
	*l = (*l)[1:]
	return r, nil
}

func TestPlanRowsCountsEachRowOnce(t *testing.T) {
	t.Parallel()
	row := func(key, prompt string) manifest.Row {
		return manifest.Row{Key: key, Line: 2, Input: manifest.NewInput(manifest.Field{Name: "promptText", Value: prompt})}
	}
	rows := rowList{row("new", "a"), row("run", "b"), row("unc", "c"), row("unc2", "d"),
		row("fail", "e"), row("done", "f"), row("chg", "g")}
	stored := func(r manifest.Row, s store.State, resent int) store.Job {
		return store.Job{Key: r.Key, ParamHash: r.Input.Hash(), State: s, RequestID: "id-" + r.Key, Resent: resent}
	}
	jobs := jobMap{
		"run":  stored(rows[1], store.StateRunning, 0),
		"unc":  stored(rows[2], store.StateUncertain, 0),
		"unc2": stored(rows[3], store.StateUncertain, 1),
		"fail": stored(rows[4], store.StateFailed, 0),
		"done": stored(rows[5], store.StateDone, 0), // no outputs: not present
		"chg":  stored(row("chg", "old"), store.StateRendered, 0),
	}
	p, err := PlanRows(t.Context(), &rows, jobs, PlanOptions{OutDir: t.TempDir(), RetryFailed: true})
	require.NoError(t, err)
	assert.Equal(t, Plan{Rows: 7, New: 1, Retry: 1, InFlight: 1, Download: 1, Resend: 1, Held: 1,
		Changed: 1, ChangedInFlight: 1, Submits: 3}, p)
}

func TestPlanRowsWithoutStateIsAllNew(t *testing.T) {
	t.Parallel()
	rows := rowList{{Key: "a", Line: 2}, {Key: "b", Line: 3}}
	p, err := PlanRows(t.Context(), &rows, nil, PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, Plan{Rows: 2, New: 2, Submits: 2}, p)
}

func TestPlanRowsStoreError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	rows := rowList{{Key: "a", Line: 2}}
	_, err := PlanRows(t.Context(), &rows, failingJobs{boom}, PlanOptions{})
	require.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, `plan row "a"`)
}

type failingJobs struct{ err error }

func (f failingJobs) Get(context.Context, string) (store.Job, error) { return store.Job{}, f.err }

func TestWithJournalAppliesEntries(t *testing.T) {
	t.Parallel()
	jobs := jobMap{"known": {Key: "known", ParamHash: "h", State: store.StateSubmitting}}
	entries := []store.JournalEntry{{Key: "known", RequestID: "r1"}, {Key: "lost", RequestID: "r2"}}
	r := WithJournal(jobs, entries)
	got, err := r.Get(t.Context(), "known")
	require.NoError(t, err)
	assert.Equal(t, store.StateSubmitted, got.State, "a run records the request ID and polls the job")
	assert.Equal(t, "r1", got.RequestID)
	assert.Equal(t, "h", got.ParamHash)
	got, err = r.Get(t.Context(), "lost")
	require.NoError(t, err)
	assert.Equal(t, entries[1].Job(), got)
	_, err = r.Get(t.Context(), "none")
	require.ErrorIs(t, err, store.ErrNotFound)

	assert.Equal(t, JobReader(jobs), WithJournal(jobs, nil), "no entries: the jobs themselves")
}
