package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProfilesFromTheEnvironment: the variables bench sets give a CPU
// profile of the whole command and the heap at its exit, each in pprof's
// format; without them nothing is written, and one that cannot be
// written is said on stderr without stopping the command.
func TestProfilesFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		EnvCPUProfile:  filepath.Join(dir, "run.cpu.pprof"),
		EnvHeapProfile: filepath.Join(dir, "run.heap.pprof"),
	}
	var stderr bytes.Buffer
	stop := StartProfiles(func(k string) string { return env[k] }, &stderr)
	stop()
	assert.Empty(t, stderr.String())
	for _, path := range env {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		// pprof's format: a gzipped protocol buffer.
		assert.True(t, bytes.HasPrefix(raw, []byte{0x1f, 0x8b}), path)
	}

	stop = StartProfiles(func(string) string { return "" }, &stderr)
	stop()
	assert.Empty(t, stderr.String())

	missing := filepath.Join(dir, "no", "such", "folder", "x.pprof")
	stop = StartProfiles(func(k string) string {
		if k == EnvHeapEvery {
			return ""
		}
		return missing
	}, &stderr)
	stop()
	assert.Contains(t, stderr.String(), EnvCPUProfile)
	assert.Contains(t, stderr.String(), EnvHeapProfile)
}
