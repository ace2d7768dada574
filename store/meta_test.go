package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMeta(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	v, err := f.store.Meta(ctx, "model")
	require.NoError(t, err)
	assert.Empty(t, v)
	require.NoError(t, f.store.SetMeta(ctx, "model", "pika/v2"))
	v, err = f.store.Meta(ctx, "model")
	require.NoError(t, err)
	assert.Equal(t, "pika/v2", v)

	assert.Error(t, f.store.SetMeta(ctx, metaSchemaVersion, "9"))
	assert.Error(t, f.store.SetMeta(ctx, "", "x"))
	v, err = f.store.Meta(ctx, metaSchemaVersion)
	require.NoError(t, err)
	assert.Equal(t, "1", v)
}

func TestMarkSaysWhetherAnythingWasWritten(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
	require.NoError(t, err)
	defer st.Close()
	ctx := t.Context()

	v, unchanged, err := st.Mark(ctx, "index")
	require.NoError(t, err)
	assert.Empty(t, v)
	assert.False(t, unchanged, "never marked")

	require.NoError(t, st.SetMark(ctx, "index", "results.jsonl 123"))
	v, unchanged, err = st.Mark(ctx, "index")
	require.NoError(t, err)
	assert.Equal(t, "results.jsonl 123", v)
	assert.True(t, unchanged)

	require.NoError(t, st.Put(ctx, Job{Key: "a", ParamHash: "h", State: StatePending}))
	_, unchanged, err = st.Mark(ctx, "index")
	require.NoError(t, err)
	assert.False(t, unchanged, "a job was written since")

	require.NoError(t, st.SetMark(ctx, "index", "v2"))
	require.NoError(t, st.SetMeta(ctx, "model", "m"))
	_, unchanged, err = st.Mark(ctx, "index")
	require.NoError(t, err)
	assert.False(t, unchanged, "any write counts")
	m, err := st.Meta(ctx, "model")
	require.NoError(t, err)
	assert.Equal(t, "m", m, "marks and meta do not mix")
}
