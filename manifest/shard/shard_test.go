package shard_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/shard"
)

func TestParse(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == shard.IndexEnv {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		in, env string
		want    shard.Spec
		err     bool
	}{
		{in: "", want: shard.Spec{}},
		{in: "0/1", want: shard.Spec{K: 0, N: 1}},
		{in: "2/4", want: shard.Spec{K: 2, N: 4}},
		{in: "auto/4", env: "3", want: shard.Spec{K: 3, N: 4}},
		{in: "auto/4", err: true},
		{in: "auto/4", env: "4", err: true},
		{in: "4/4", err: true},
		{in: "-1/4", err: true},
		{in: "1/0", err: true},
		{in: "1", err: true},
		{in: "a/b", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in+"@"+tt.env, func(t *testing.T) {
			got, err := shard.Parse(tt.in, env(tt.env))
			if tt.err {
				require.ErrorIs(t, err, shard.ErrSpec)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEveryKeyInExactlyOneShard(t *testing.T) {
	const n = 4
	counts := make([]int, n)
	for i := range 4000 {
		key := fmt.Sprintf("clip-%05d", i)
		owners := 0
		for k := range n {
			if (shard.Spec{K: k, N: n}).Owns(key) {
				owners++
				counts[k]++
			}
		}
		require.Equal(t, 1, owners, key)
	}
	for k, c := range counts {
		assert.InDelta(t, 1000, c, 150, "shard %d is roughly a quarter", k)
	}
	assert.True(t, shard.Spec{}.Owns("anything"))
}

func TestSplitIsStable(t *testing.T) {
	// Golden values: the split must never change, or shards of a running
	// batch would render each other's rows.
	s := shard.Spec{K: 0, N: 3}
	var got []bool
	for _, k := range []string{"a", "b", "c", "harbor-dawn", "r-0123abcd"} {
		got = append(got, s.Owns(k))
	}
	assert.Equal(t, []bool{false, false, true, true, false}, got, "FNV-1a-64(key) mod 3 == 0")
}

func TestNames(t *testing.T) {
	assert.Equal(t, ".pikabatch.db", shard.Spec{}.StateName())
	assert.Equal(t, ".pikabatch-1-of-4.db", shard.Spec{K: 1, N: 4}.StateName())
	assert.Equal(t, "results.jsonl", shard.Spec{}.IndexName("jsonl"))
	assert.Equal(t, "results-1-of-4.csv", shard.Spec{K: 1, N: 4}.IndexName("csv"))
	assert.Equal(t, "1/4", shard.Spec{K: 1, N: 4}.String())
}

type rows []manifest.Row

func (r *rows) Next() (manifest.Row, error) {
	if len(*r) == 0 {
		return manifest.Row{}, io.EOF
	}
	row := (*r)[0]
	*r = (*r)[1:]
	return row, nil
}

func TestFilter(t *testing.T) {
	var all rows
	for i := range 30 {
		all = append(all, manifest.Row{Key: fmt.Sprintf("k%d", i)})
	}
	total := 0
	for k := range 3 {
		src := append(rows(nil), all...)
		f := shard.Filter(&src, shard.Spec{K: k, N: 3})
		for {
			row, err := f.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			assert.True(t, shard.Spec{K: k, N: 3}.Owns(row.Key))
			total++
		}
	}
	assert.Equal(t, 30, total)
}

func TestOtherSplits(t *testing.T) {
	dir := t.TempDir()
	none, err := shard.OtherSplits(filepath.Join(dir, "missing"), shard.Spec{K: 0, N: 4})
	require.NoError(t, err)
	assert.Empty(t, none)

	for _, name := range []string{".pikabatch-0-of-4.db", ".pikabatch-3-of-4.db", "results-0-of-4.jsonl", ".pikabatch-x-of-2.db", "a.mp4"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o600))
	}
	got, err := shard.OtherSplits(dir, shard.Spec{K: 1, N: 4})
	require.NoError(t, err)
	assert.Empty(t, got, "shards of the same split share a folder")

	got, err = shard.OtherSplits(dir, shard.Spec{K: 0, N: 3})
	require.NoError(t, err)
	assert.Equal(t, []string{".pikabatch-0-of-4.db", ".pikabatch-3-of-4.db"}, got)

	got, err = shard.OtherSplits(dir, shard.Spec{})
	require.NoError(t, err)
	assert.Len(t, got, 2, "an unsharded run beside shards")

	require.NoError(t, os.WriteFile(filepath.Join(dir, ".pikabatch.db"), nil, 0o600))
	got, err = shard.OtherSplits(dir, shard.Spec{K: 1, N: 4})
	require.NoError(t, err)
	assert.Equal(t, []string{".pikabatch.db"}, got, "a shard beside an unsharded run")
}

// TestStateFilesAmongManyFiles: the state files of a folder that holds
// more videos than one read of its names returns, sorted, and nothing else
// (not the owner files, indexes or names that only look like state files).
func TestStateFilesAmongManyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range 5000 {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("bench-%07d.mp4", i)), nil, 0o644))
	}
	state := []string{".pikabatch-0-of-4.db", ".pikabatch-3-of-4.db", ".pikabatch.db"}
	others := []string{".pikabatch.db.owner", ".pikabatch-x-of-4.db", ".pikabatch-1-of-0.db", "results.jsonl", "pikabatch.db"}
	for _, name := range append(state, others...) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
	}
	got, err := shard.StateFiles(dir)
	require.NoError(t, err)
	assert.Equal(t, state, got)

	got, err = shard.StateFiles(filepath.Join(dir, "missing"))
	require.NoError(t, err)
	assert.Empty(t, got)
}
