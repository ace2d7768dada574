package runner_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// TestOnSavedSeesEachFileWholeOnce: the hook is handed each job the run
// records done, once, with its files complete under their final names
// and as recorded; a re-run downloads nothing and hands nothing over.
func TestOnSavedSeesEachFileWholeOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, 20, sim.Config{})
	var mu sync.Mutex
	saved := map[string]int{}
	onSaved := func(_ context.Context, job store.Job) {
		mu.Lock()
		defer mu.Unlock()
		saved[job.Key]++
		assert.Equal(t, store.StateDone, job.State)
		for _, o := range job.Outputs {
			b, err := os.ReadFile(filepath.Join(e.out, o.Path))
			if assert.NoError(t, err) {
				sum := sha256.Sum256(b)
				assert.Equal(t, o.SHA256, hex.EncodeToString(sum[:]), "%s is whole when handed over", o.Path)
			}
		}
	}
	_, err := e.runOnce(t.Context(), func(c *runner.Config) { c.OnSaved = onSaved })
	require.NoError(t, err)
	assert.Len(t, saved, 20)
	for k, n := range saved {
		assert.Equal(t, 1, n, k)
	}
	clear(saved)
	_, err = e.runOnce(t.Context(), func(c *runner.Config) { c.OnSaved = onSaved })
	require.NoError(t, err)
	assert.Empty(t, saved)
}
