package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// damagedFile writes a state file with enough jobs for a multi-page tree,
// closes it and returns its path, its bytes and its page size.
func damagedFile(t *testing.T) (string, []byte, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".pikabatch.db")
	s, err := Open(path, Options{})
	require.NoError(t, err)
	ctx := context.Background()
	for i := range 300 {
		j := newJob(fmt.Sprintf("row-%04d", i))
		j.State, j.RequestID = StateSubmitted, fmt.Sprintf("req-%04d", i)
		require.NoError(t, s.Put(ctx, j))
	}
	require.NoError(t, s.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	m, err := readMeta(b)
	require.NoError(t, err)
	return path, b, int(m.pageSize)
}

// rootPage returns the page number of the root bucket in the newest meta.
func rootPage(t *testing.T, b []byte, pageSize int) int {
	t.Helper()
	m0, err := readMeta(b)
	require.NoError(t, err)
	m1, err := readMeta(b[pageSize:])
	require.NoError(t, err)
	if m1.txid > m0.txid {
		m0 = m1
	}
	return int(m0.root)
}

// jobsRootPage returns the root page of the jobs bucket: its entry in the
// root bucket's leaf (key "jobs", value: root pgid, sequence).
func jobsRootPage(t *testing.T, b []byte, pageSize int) int {
	t.Helper()
	p := b[rootPage(t, b, pageSize)*pageSize:]
	count := int(binary.LittleEndian.Uint16(p[10:]))
	for i := range count {
		e := p[boltPageHeader+i*16:] // leaf element: flags, pos, ksize, vsize
		pos := int(binary.LittleEndian.Uint32(e[4:]))
		ksize := int(binary.LittleEndian.Uint32(e[8:]))
		k := e[pos : pos+ksize]
		if string(k) == "jobs" {
			return int(binary.LittleEndian.Uint64(e[pos+ksize:]))
		}
	}
	t.Fatal("no jobs bucket in the root page")
	return 0
}

// TestDamagedStateIsRefused: a 0-byte, truncated or bit-flipped
// state file was started over (every row paid again) or crashed the
// process with SIGBUS. Each is now a *DamagedError, for readers and
// writers alike, and the file is left as it was.
func TestDamagedStateIsRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		damage func(t *testing.T, b []byte, pageSize int) []byte
		want   string
	}{
		{"empty", func(*testing.T, []byte, int) []byte { return []byte{} }, "empty"},
		{"truncated to half", func(t *testing.T, b []byte, ps int) []byte {
			// bbolt grows the file ahead of use; cut into the pages in use.
			m, err := readMeta(b)
			require.NoError(t, err)
			return b[:int(m.pgid)*ps/2]
		}, "truncated"},
		{"truncated to one page", func(_ *testing.T, b []byte, ps int) []byte { return b[:ps] }, "truncated"},
		{"both meta pages damaged", func(_ *testing.T, b []byte, ps int) []byte {
			b[boltPageHeader+20] ^= 0x10    // meta 0's root page number
			b[ps+boltPageHeader+49] ^= 0x01 // meta 1's txid
			return b
		}, "both of its meta pages"},
		{"bit flipped in the root page's type", func(t *testing.T, b []byte, ps int) []byte {
			b[rootPage(t, b, ps)*ps+8] ^= 0x02
			return b
		}, ""},
		{"bit flipped in the root page's count", func(t *testing.T, b []byte, ps int) []byte {
			b[rootPage(t, b, ps)*ps+11] ^= 0x40
			return b
		}, ""},
		{"bit flipped in the jobs bucket's root page", func(t *testing.T, b []byte, ps int) []byte {
			b[jobsRootPage(t, b, ps)*ps+boltPageHeader+12] ^= 0x80 // a branch element's page number
			return b
		}, ""},
		{"not a bbolt file", func(_ *testing.T, b []byte, _ int) []byte {
			return []byte("just some notes, long enough to not be a database")
		}, "not a bbolt file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path, b, ps := damagedFile(t)
			bad := c.damage(t, b, ps)
			require.NoError(t, os.WriteFile(path, bad, 0o600))
			for _, ro := range []bool{true, false} {
				s, err := Open(path, Options{ReadOnly: ro, LockTimeout: -1})
				if s != nil {
					_ = s.Close()
				}
				var de *DamagedError
				require.ErrorAs(t, err, &de, "read-only %v", ro)
				assert.ErrorIs(t, err, ErrDamaged)
				assert.Equal(t, path, de.Path)
				assert.Contains(t, err.Error(), c.want)
				assert.Contains(t, err.Error(), path, "the message names the file")
			}
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, bad, after, "a damaged file is never written")
			assert.NoFileExists(t, ownerPath(path))
		})
	}
}

func TestHealthyStateOpensAfterTheCheck(t *testing.T) {
	t.Parallel()
	path, _, _ := damagedFile(t)
	for _, ro := range []bool{true, false} {
		s, err := Open(path, Options{ReadOnly: ro})
		require.NoError(t, err)
		j, err := s.Get(context.Background(), "row-0123")
		require.NoError(t, err)
		assert.Equal(t, "req-0123", j.RequestID)
		require.NoError(t, s.Close())
	}
}

// TestUndecodableRecordIsDamage: a flipped bit inside a record passes
// bbolt's checks (values carry no checksum) but not JSON; reading it is
// damage (exit 74), not a failed row.
func TestUndecodableRecordIsDamage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	require.NoError(t, f.store.Put(ctx, newJob("a")))
	require.NoError(t, f.store.Close())
	rawUpdate(t, f.path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).Put([]byte("a"), []byte(`{"key":"a","state":"pend`))
	})
	s := f.open(t)
	_, err := s.Get(ctx, "a")
	assert.ErrorIs(t, err, ErrDamaged)
	assert.ErrorIs(t, s.ForEach(ctx, func(Job) error { return nil }), ErrDamaged)
	_, err = s.Update(ctx, "a", func(*Job) error { return nil })
	assert.ErrorIs(t, err, ErrDamaged)
	assert.ErrorIs(t, s.Put(ctx, newJob("a")), ErrDamaged)
}

// TestOneDamagedMetaPageFallsBack: a crash in the middle of a commit leaves
// the meta page it was writing torn. bbolt then reads the other one, the
// state as of the commit before, which is all the runner relied on: the
// file opens, with every job that commit held, and is not refused as
// damaged (that would send the user to rebuild it from results.jsonl,
// which knows less).
func TestOneDamagedMetaPageFallsBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(b []byte, ps int)
	}{
		{"meta page 0", func(b []byte, _ int) { b[boltPageHeader+20] ^= 0x10 }},     // the root page number
		{"meta page 1", func(b []byte, ps int) { b[ps+boltPageHeader+49] ^= 0x01 }}, // the txid
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, b, ps := damagedFile(t)
			tc.damage(b, ps)
			require.NoError(t, os.WriteFile(path, b, 0o600))
			s, err := Open(path, Options{LockTimeout: -1})
			require.NoError(t, err)
			defer s.Close()
			n := 0
			require.NoError(t, s.ForEach(t.Context(), func(j Job) error {
				n++
				assert.NotEmpty(t, j.RequestID, j.Key)
				return nil
			}))
			assert.GreaterOrEqual(t, n, 299, "at most the last commit is rolled back")
		})
	}
}
