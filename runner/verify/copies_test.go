package verify_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/pikabatch/pikabatch/runner/bucket/fakes3"

	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
	"github.com/pikabatch/pikabatch/runner/verify"
	"github.com/pikabatch/pikabatch/store"
)

// synced is a batch of n done jobs whose files were copied to a fake
// bucket, and that bucket's backend, to damage the copies behind the
// batch's back.
type synced struct {
	st      *store.Store
	client  *bucket.Client
	backend *s3mem.Backend
	to      bucket.Location
	dir     string
}

func setupSynced(t *testing.T, n int) *synced {
	t.Helper()
	fake := fakes3.Start(t, nil, "renders")
	s := &synced{backend: fake.Backend, dir: t.TempDir()}
	var err error
	s.to, err = bucket.Parse(fake.Prefix("renders", "b1"))
	require.NoError(t, err)
	s.client = bucket.NewClient()
	t.Cleanup(func() { _ = s.client.Close() })
	s.st, err = store.Open(filepath.Join(s.dir, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.st.Close() })
	for i := range n {
		key := fmt.Sprintf("c%d", i)
		r := ref(t, s.dir, key+".mp4", []byte("the video of "+key))
		require.NoError(t, s.st.Put(t.Context(), store.Job{Key: key, ParamHash: "h", State: store.StateDone, RequestID: "r" + key,
			Outputs: []store.Output{{Path: r.Path, Size: r.Size, SHA256: r.SHA256}}}))
	}
	return s
}

func (s *synced) sync(t *testing.T) bucketsync.Report {
	t.Helper()
	sy, err := bucketsync.New(bucketsync.Config{To: s.to, Dir: s.dir}, s.client, s.st)
	require.NoError(t, err)
	sy.Start(t.Context())
	rep, err := sy.Finish(t.Context())
	require.NoError(t, err)
	return rep
}

// TestCheckCopies: a copy deleted from the bucket or replaced by other
// bytes is reported and queued; the next sync uploads exactly those, and
// a check then finds every copy right.
func TestCheckCopies(t *testing.T) {
	s := setupSynced(t, 4)
	ctx := t.Context()
	_, err := verify.CheckCopies(ctx, s.st, s.client, verify.Options{})
	require.ErrorIs(t, err, verify.ErrNoCopies, "never synced")
	assert.Equal(t, 4, s.sync(t).Uploaded)

	_, err = s.backend.DeleteObject("renders", "b1/c1.mp4")
	require.NoError(t, err)
	other := []byte("the video of cX")
	sum := sha256.Sum256(other)
	_, err = s.client.Upload(ctx, s.to.Join("c2.mp4"), bucket.Source{
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(other)), nil },
		Size: int64(len(other)), SHA256: hex.EncodeToString(sum[:])})
	require.NoError(t, err)

	rep, err := verify.CheckCopies(ctx, s.st, s.client, verify.Options{Workers: 2})
	require.NoError(t, err)
	assert.Equal(t, 4, rep.Copies)
	assert.Equal(t, 2, rep.OK)
	assert.Equal(t, 2, rep.Waiting, "queued for the next run")
	require.Len(t, rep.Findings, 2)
	assert.Equal(t, verify.Finding{Key: "s3://renders/b1/c1.mp4", Path: "c1.mp4", Problem: verify.Missing,
		Detail: "not in the bucket; the next run uploads it again"}, rep.Findings[0])
	assert.Equal(t, verify.WrongHash, rep.Findings[1].Problem)
	assert.Equal(t, "c2.mp4", rep.Findings[1].Path)
	assert.NotContains(t, rep.To+rep.Findings[0].Key, "X-Amz", "bucket URLs only")
	for i := range 4 {
		assert.FileExists(t, filepath.Join(s.dir, fmt.Sprintf("c%d.mp4", i)), "local files are never touched")
	}

	assert.Equal(t, 2, s.sync(t).Uploaded)
	rep, err = verify.CheckCopies(ctx, s.st, s.client, verify.Options{})
	require.NoError(t, err)
	assert.Equal(t, verify.CopiesReport{To: s.to.String(), Copies: 4, OK: 4}, rep)
}
