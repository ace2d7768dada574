package demo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	builtin "github.com/pikabatch/pikabatch/examples"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestWriteManifestKeepsTheUsersFile: the built-in manifest is written
// once, found again as it is, and a file of its name the user edited is
// refused, never overwritten.
func TestWriteManifestKeepsTheUsersFile(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	path, err := WriteManifest(out)
	require.NoError(t, err)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, builtin.ManifestCSV, got)
	_, err = WriteManifest(out)
	require.NoError(t, err, "the same manifest again")

	require.NoError(t, os.WriteFile(path, []byte("id,image\n"), 0o644))
	_, err = WriteManifest(out)
	var edited *EditedManifestError
	require.ErrorAs(t, err, &edited)
	assert.Equal(t, path, edited.Path)
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "id,image\n", string(got))
}

// TestStartWithoutAStateStartsEmpty: jobs saved beside no state file are
// of no use, and the simulator starts without them.
func TestStartWithoutAStateStartsEmpty(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(out, SimStateName), []byte("not json"), 0o644))
	srv, err := Start(SimConfig(false), out, os.Stderr)
	require.NoError(t, err)
	assert.Zero(t, srv.Restored)
	closeErr, saveErr := srv.Stop()
	require.NoError(t, closeErr)
	require.NoError(t, saveErr)
	assert.FileExists(t, filepath.Join(out, SimStateName))
}

func TestIsLoopbackAddr(t *testing.T) {
	t.Parallel()
	assert.True(t, isLoopbackAddr("127.0.0.1:4000"))
	assert.True(t, isLoopbackAddr("[::1]:4000"))
	assert.False(t, isLoopbackAddr("0.0.0.0:4000"))
	assert.False(t, isLoopbackAddr("localhost:4000"), "a name may resolve anywhere")
	assert.False(t, isLoopbackAddr("127.0.0.1"))
}
