package demo

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/batch"
)

// TestPrepareWritesTheManifestAndPointsTheRunAtTheSimulator: an empty
// folder gets the built-in manifest and a simulator the run's config
// names (address, origin, token); Finish saves its jobs and says what
// to do next, giving back the run's own error.
func TestPrepareWritesTheManifestAndPointsTheRunAtTheSimulator(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "demo")
	c := batch.Config{Out: out}
	var w, warn bytes.Buffer
	srv, err := Prepare(SimConfig(false), &c, &w, &warn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	assert.Equal(t, filepath.Join(out, ManifestName), c.Manifest)
	assert.FileExists(t, c.Manifest)
	assert.Equal(t, srv.APIURL, c.APIBase)
	assert.Equal(t, Origin, c.BindOrigin)
	assert.Equal(t, srv.Token(), string(c.Token))
	assert.Equal(t, "demo: simulated Model API on "+srv.APIURL+"; rendering "+c.Manifest+" into "+out+"\n", w.String())

	w.Reset()
	require.NoError(t, srv.Finish(&w, "", out, nil, false))
	assert.FileExists(t, filepath.Join(out, SimStateName))
	assert.True(t, strings.HasPrefix(w.String(), srv.Seen()+"\n"), w.String())

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = Prepare(SimConfig(false), &batch.Config{Out: file}, &w, &warn)
	require.Error(t, err, "a file is no folder for a demo")
}
