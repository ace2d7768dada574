package atomicfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/atomicfile"
)

func write(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// temps lists the temporary files left in dir for path.
func temps(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(atomicfile.TempPattern(path))
	require.NoError(t, err)
	return m
}

func TestWriteMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		before os.FileMode // 0: no file yet
		perm   os.FileMode
	}{
		{"new file", 0, 0o644},
		{"replaces a private file", 0o600, 0o644},
		{"replaces a wider file", 0o666, 0o644},
		{"private on request", 0o644, 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "results.jsonl")
			if tc.before != 0 {
				require.NoError(t, os.WriteFile(path, []byte("old\n"), tc.before))
				require.NoError(t, os.Chmod(path, tc.before))
			}
			require.NoError(t, atomicfile.Write(path, tc.perm, write("new\n")))
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, tc.perm, fi.Mode().Perm(), "whatever the umask")
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, "new\n", string(b))
			assert.Empty(t, temps(t, path))
		})
	}
}

func TestWriteFailureKeepsOldFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.csv")
	require.NoError(t, os.WriteFile(path, []byte("old\n"), 0o644))
	boom := errors.New("boom")

	var tmp string
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, "half a ")
		require.NoError(t, err)
		// Mid-write the temporary file exists beside the old one, which
		// readers still see whole.
		m := temps(t, path)
		require.Len(t, m, 1)
		tmp = m[0]
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, "old\n", string(b))
		return boom
	})
	require.ErrorIs(t, err, boom, "fn's error comes back as it is")

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old\n", string(b))
	assert.NoFileExists(t, tmp)
	assert.Empty(t, temps(t, path))
}

func TestWriteReplacesLinkWithoutFollowing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("precious"), 0o600))
	path := filepath.Join(dir, "results.jsonl")
	require.NoError(t, os.Symlink(victim, path))

	require.NoError(t, atomicfile.Write(path, 0o644, write("new\n")))

	b, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(b))
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "the link is replaced by the file")
}

func TestWriteUnwritableFolder(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing", "results.jsonl")
	called := false
	err := atomicfile.Write(path, 0o644, func(io.Writer) error { called = true; return nil })
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.False(t, called, "nothing to write to")
}
