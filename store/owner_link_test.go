package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOwnerFileNeverWritesThroughALink: a symbolic link planted at the
// owner file's temporary name made Open write the owner record into the
// file it pointed at, outside the folder.
func TestOwnerFileNeverWritesThroughALink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, ".pikabatch.db")
	outside := filepath.Join(t.TempDir(), "outside")
	content := []byte("precious\n")
	require.NoError(t, os.WriteFile(outside, content, 0o600))
	require.NoError(t, os.Symlink(outside, ownerPath(path)+".tmp"))
	dangling := filepath.Join(t.TempDir(), "never-created")
	require.NoError(t, os.Symlink(dangling, ownerPath(path)))

	s, err := Open(path, Options{Owner: CurrentOwner("store test")})
	require.NoError(t, err)
	defer s.Close()

	got, err := os.ReadFile(outside)
	require.NoError(t, err)
	assert.Equal(t, content, got, "the link's target is untouched")
	assert.NoFileExists(t, dangling)
	fi, err := os.Lstat(ownerPath(path))
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "the owner file is a real file")
	assert.NoFileExists(t, ownerPath(path)+".tmp")
	o := readOwner(path)
	require.NotNil(t, o)
	assert.Equal(t, "store test", o.Command)
}
