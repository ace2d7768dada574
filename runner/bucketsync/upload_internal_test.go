package bucketsync

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckedSourceRewinds: a request sent again rewinds the file to its
// start, and the check starts over with it, so the second read passes;
// a read from anywhere else could not be checked, and fails.
func TestCheckedSourceRewinds(t *testing.T) {
	body := []byte("a video of some length, read twice")
	path := filepath.Join(t.TempDir(), "clip.mp4")
	require.NoError(t, os.WriteFile(path, body, 0o644))
	sum := sha256.Sum256(body)
	s := &Syncer{}
	r, err := s.source(path, int64(len(body)), hex.EncodeToString(sum[:])).Open()
	require.NoError(t, err)
	defer r.Close()
	rs := r.(io.ReadSeeker)

	half := make([]byte, len(body)/2)
	_, err = io.ReadFull(rs, half)
	require.NoError(t, err)
	pos, err := rs.Seek(0, io.SeekCurrent)
	require.NoError(t, err)
	assert.Equal(t, int64(len(half)), pos)

	_, err = rs.Seek(0, io.SeekStart)
	require.NoError(t, err)
	got, err := io.ReadAll(rs)
	require.NoError(t, err)
	assert.Equal(t, body, got)

	_, err = rs.Seek(3, io.SeekStart)
	require.NoError(t, err)
	_, err = io.ReadAll(rs)
	assert.ErrorIs(t, err, errLocal)
}
