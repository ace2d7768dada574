package live_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

// TestFindStatesWithoutStateFile: a folder no run started in is
// ErrNoState; one where runs left a results index is store.ErrMissing,
// and the error names the recover command for it (with --shard for a
// shard's index).
func TestFindStatesWithoutStateFile(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	_, err := live.FindStates(empty)
	require.ErrorIs(t, err, live.ErrNoState)

	for _, tt := range []struct{ index, want string }{
		{"results.jsonl", "`pikabatch recover --out DIR` rebuilds"},
		{"results-1-of-2.jsonl", "`pikabatch recover --out DIR --shard K/N` rebuilds"},
	} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, tt.index), nil, 0o644))
		_, err := live.FindStates(dir)
		require.ErrorIs(t, err, store.ErrMissing)
		assert.Contains(t, err.Error(), "runs left "+tt.index)
		assert.Contains(t, err.Error(), replaceDir(tt.want, dir))
	}
}

func replaceDir(s, dir string) string { return strings.Replace(s, "DIR", dir, 1) }
