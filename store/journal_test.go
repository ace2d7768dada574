package store

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJournalIsAppliedOnOpen: issue 14 — request IDs the state could not
// take were lost, and the next run paid for their rows again. Open now
// records them from the journal before anything plans, then removes it.
func TestJournalIsAppliedOnOpen(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	sub := newJob("sub")
	sub.State = StateSubmitting
	done := newJob("done")
	done.State, done.RequestID = StateDone, "req-old"
	require.NoError(t, f.store.Put(ctx, sub))
	require.NoError(t, f.store.Put(ctx, done))
	at := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	require.NoError(t, f.store.Journal(ctx, "sub", "req-sub", at))
	require.NoError(t, f.store.Journal(ctx, "done", "req-other", at))
	require.NoError(t, AppendJournal(f.path, JournalEntry{Key: "gone", RequestID: "req-gone", Time: at}))
	// A line cut short by a crash is skipped.
	jf, err := os.OpenFile(JournalPath(f.path), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = jf.WriteString(`{"key":"half","requ`)
	require.NoError(t, err)
	require.NoError(t, jf.Close())
	require.NoError(t, f.store.Close())

	s := f.open(t)
	assert.Len(t, s.Journaled(), 3)
	assert.NoFileExists(t, JournalPath(f.path), "applied, then removed")
	got, err := s.Get(ctx, "sub")
	require.NoError(t, err)
	assert.Equal(t, StateSubmitted, got.State)
	assert.Equal(t, "req-sub", got.RequestID)
	assert.Equal(t, at, got.SubmittedAt)
	got, err = s.Get(ctx, "done")
	require.NoError(t, err)
	assert.Equal(t, StateDone, got.State, "a finished render keeps its ID")
	assert.Equal(t, "req-old", got.RequestID)
	got, err = s.Get(ctx, "gone")
	require.NoError(t, err)
	assert.Equal(t, StateSubmitted, got.State, "a key unknown to the state is kept with its ID")
	assert.Equal(t, "req-gone", got.RequestID)
	_, err = s.Get(ctx, "half")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestReadOnlyOpenLeavesTheJournal(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, f.store.Journal(context.Background(), "a", "req-a", time.Now()))
	require.NoError(t, f.store.Close())
	s, err := Open(f.path, Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.FileExists(t, JournalPath(f.path))
}
