package store

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJournalIsAppliedOnOpen: request IDs the state could not
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
	require.NoError(t, AppendJournal(f.path, JournalEntry{Batch: f.store.BatchID(), Key: "gone", RequestID: "req-gone", Time: at}))
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

// TestJournalOfAnotherBatchIsRefused: a journal copied beside another
// batch's state file named no batch, and its request IDs (and videos) were
// filed as that batch's rows. Now every line carries the batch's identity,
// and a journal of another batch is refused whole, applied to nothing and
// left in place.
func TestJournalOfAnotherBatchIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := setup(t), setup(t)
	require.NotEmpty(t, a.store.BatchID())
	require.NotEqual(t, a.store.BatchID(), b.store.BatchID())
	require.NoError(t, a.store.Journal(ctx, "x", "req-of-a", time.Now()))
	require.NoError(t, b.store.Put(ctx, newJob("x")))
	require.NoError(t, a.store.Close())
	require.NoError(t, b.store.Close())
	raw, err := os.ReadFile(JournalPath(a.path))
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"batch":"`+a.store.BatchID()+`"`)
	require.NoError(t, os.WriteFile(JournalPath(b.path), raw, 0o600))

	_, err = Open(b.path, Options{})
	require.ErrorIs(t, err, ErrJournal)
	assert.Contains(t, err.Error(), JournalPath(b.path)+":1")
	assert.FileExists(t, JournalPath(b.path), "a refused journal is left for the user")

	// A line naming no batch is another batch's too, for a state that has one.
	require.NoError(t, os.WriteFile(JournalPath(b.path), []byte(`{"key":"x","request_id":"req-?"}`+"\n"), 0o600))
	_, err = Open(b.path, Options{})
	require.ErrorIs(t, err, ErrJournal)

	require.NoError(t, os.Remove(JournalPath(b.path)))
	s := b.open(t)
	got, err := s.Get(ctx, "x")
	require.NoError(t, err)
	assert.Empty(t, got.RequestID, "nothing of A's journal was filed as B's")
}

// TestJournalLongLineIsNamed: a journal line over 1 MiB ended the run with
// "token too long" and dropped every other line. That line is now refused
// alone, named by file and line, the others applied, and the journal kept
// aside for the user to read; a last line cut short by a crash is still
// skipped, however long.
func TestJournalLongLineIsNamed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	require.NoError(t, f.store.Journal(ctx, "a", "req-a", time.Now()))
	jf, err := os.OpenFile(JournalPath(f.path), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	long := `{"key":"b","request_id":"` + strings.Repeat("x", 2<<20) + "\"}\n"
	_, err = jf.WriteString(long + "not json\n")
	require.NoError(t, err)
	require.NoError(t, jf.Close())
	require.NoError(t, f.store.Journal(ctx, "c", "req-c", time.Now()))
	require.NoError(t, f.store.Close())

	s := f.open(t)
	assert.Len(t, s.Journaled(), 2, "the readable lines are applied")
	bad, aside := s.JournalRefused()
	require.Len(t, bad, 2)
	assert.Equal(t, JournalPath(f.path)+":2: the line is longer than 1048576 bytes", bad[0].Error())
	assert.Equal(t, 3, bad[1].Line)
	assert.NoFileExists(t, JournalPath(f.path))
	assert.FileExists(t, aside, "the refused lines are kept")
	got, err := s.Get(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, "req-c", got.RequestID)
	require.NoError(t, s.Close())

	// The long line cut short at the end by a crash: skipped, not refused.
	require.NoError(t, AppendJournal(f.path, JournalEntry{Batch: s.BatchID(), Key: "d", RequestID: "req-d", Time: time.Now()}))
	jf, err = os.OpenFile(JournalPath(f.path), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = jf.WriteString(long[:3<<19])
	require.NoError(t, err)
	require.NoError(t, jf.Close())
	s = f.open(t)
	assert.Len(t, s.Journaled(), 1)
	bad, _ = s.JournalRefused()
	assert.Empty(t, bad)
}
