package verify_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/runner/verify"
	"github.com/pikabatch/pikabatch/store"
)

func ref(t *testing.T, dir, name string, body []byte) results.FileRef {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), body, 0o644))
	sum := sha256.Sum256(body)
	return results.FileRef{Path: name, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
}

func entries(es ...results.Entry) verify.Entries {
	return func(ctx context.Context, fn func(results.Entry) error) error {
		for _, e := range es {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := ref(t, dir, "good.mp4", []byte("a whole video"))
	gone := ref(t, dir, "gone.mp4", []byte("deleted later"))
	require.NoError(t, os.Remove(filepath.Join(dir, "gone.mp4")))
	short := ref(t, dir, "short.mp4", []byte("cut"))
	short.Size = 10
	flipped := ref(t, dir, "flipped.mp4", []byte("same size, one byte flipped"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flipped.mp4"), []byte("same size, one byte flipPed"), 0o644))
	outside := results.FileRef{Path: "../etc/passwd", Size: 1, SHA256: "00"}
	src := entries(
		results.Entry{Key: "good", State: store.StateDone, Files: []results.FileRef{good}},
		results.Entry{Key: "gone", State: store.StateDone, Files: []results.FileRef{gone}},
		results.Entry{Key: "short", State: store.StateDone, Files: []results.FileRef{short}},
		results.Entry{Key: "flipped", State: store.StateDone, Files: []results.FileRef{flipped}},
		results.Entry{Key: "evil", State: store.StateDone, Files: []results.FileRef{outside}},
		results.Entry{Key: "pending", State: store.StatePending},
	)

	rep, err := verify.Check(t.Context(), dir, src, verify.Options{Workers: 3})
	require.NoError(t, err)
	assert.Equal(t, 5, rep.Jobs, "done jobs only")
	assert.Equal(t, 5, rep.Files)
	assert.Equal(t, 1, rep.OK)
	var got []verify.Problem
	for _, f := range rep.Findings {
		got = append(got, f.Problem)
		assert.False(t, f.Removed)
	}
	assert.Equal(t, []verify.Problem{verify.Missing, verify.WrongSize, verify.WrongHash, verify.Unsafe}, got, "in the entries' order")
	assert.FileExists(t, filepath.Join(dir, "flipped.mp4"), "read only unless asked")

	rep, err = verify.Check(t.Context(), dir, src, verify.Options{RemoveBad: true})
	require.NoError(t, err)
	for _, f := range rep.Findings {
		switch f.Problem {
		case verify.WrongSize, verify.WrongHash:
			assert.True(t, f.Removed, f.Key)
			assert.NoFileExists(t, filepath.Join(dir, f.Path))
		default:
			assert.False(t, f.Removed, f.Key)
		}
	}
	assert.FileExists(t, filepath.Join(dir, "good.mp4"))
}

func TestCheckStopsWithItsContext(t *testing.T) {
	dir := t.TempDir()
	good := ref(t, dir, "a.mp4", []byte("video"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := verify.Check(ctx, dir, entries(results.Entry{Key: "a", State: store.StateDone, Files: []results.FileRef{good}}), verify.Options{})
	assert.ErrorIs(t, err, context.Canceled)
}
