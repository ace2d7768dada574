package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStagedSurvivesReopen: a staged upload, once recorded, is known to
// the next run, which then uploads nothing again; a state file that never
// staged anything reads as "nothing staged", also read-only.
func TestStagedSurvivesReopen(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	const obj = "s3://in/pre/ab12.png"

	_, found, err := f.store.StagedObject(ctx, obj)
	require.NoError(t, err)
	assert.False(t, found, "a fresh state has no staged bucket")

	want := Staged{Path: "images/a.png", Size: 42, SHA256: "ab12"}
	require.NoError(t, f.store.RecordStaged(ctx, obj, want))
	require.Error(t, f.store.RecordStaged(ctx, "", want), "an object needs a name")
	require.NoError(t, f.store.Close())

	ro, err := Open(f.path, Options{ReadOnly: true})
	require.NoError(t, err)
	got, found, err := ro.StagedObject(ctx, obj)
	require.NoError(t, err)
	require.True(t, found)
	want.At = f.clock.Now().UTC()
	assert.Equal(t, want, got)
	_, found, err = ro.StagedObject(ctx, "s3://in/pre/other.png")
	require.NoError(t, err)
	assert.False(t, found)
	assert.ErrorIs(t, ro.RecordStaged(ctx, obj, want), ErrReadOnly)
	require.NoError(t, ro.Close())
}
