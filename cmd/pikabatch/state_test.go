package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// TestStateNamedLikeASocketSurvivesTheRun: `--state out/x.sock` once
// bound the control socket on the state file itself, which deleted it, and
// the next run submitted (and paid for) every row again.
func TestStateNamedLikeASocketSurvivesTheRun(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	state := filepath.Join(out, "x.sock")
	env := tokenEnv(srv.APIURL)

	code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--state", state)
	require.Equal(t, exitOK, code, stderr)
	require.FileExists(t, state)
	require.Equal(t, int64(3), srv.Counters().Submits)

	code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--state", state)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "3 already done")
	assert.Equal(t, int64(3), srv.Counters().Submits, "nothing submitted twice")
}

// renderedBatch renders threeRows into a fresh folder on srv and returns
// the manifest, the folder and the state file.
func renderedBatch(t *testing.T, srv *sim.Running) (m, out, state string) {
	t.Helper()
	dir := t.TempDir()
	m = writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out = filepath.Join(dir, "out")
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, stderr)
	return m, out, filepath.Join(out, ".pikabatch.db")
}

// boltPages reads the page size and the newest meta page's root and
// high-water page numbers of a bbolt file (format version 2).
func boltPages(t *testing.T, b []byte) (pageSize, root, pgid int) {
	t.Helper()
	le := binary.LittleEndian
	meta := func(off int) (ps, root, pgid int, txid uint64) {
		m := b[off+16:]
		return int(le.Uint32(m[8:])), int(le.Uint64(m[16:])), int(le.Uint64(m[40:])), le.Uint64(m[48:])
	}
	ps, r0, p0, tx0 := meta(0)
	_, r1, p1, tx1 := meta(ps)
	if tx1 > tx0 {
		return ps, r1, p1
	}
	return ps, r0, p0
}

// stateDamages are the ways a state file has been found broken.
var stateDamages = []struct {
	name   string
	damage func(t *testing.T, state string)
}{
	{"0 bytes", func(t *testing.T, state string) {
		require.NoError(t, os.Truncate(state, 0))
	}},
	{"truncated to half", func(t *testing.T, state string) {
		b, err := os.ReadFile(state)
		require.NoError(t, err)
		ps, _, pgid := boltPages(t, b)
		require.NoError(t, os.Truncate(state, int64(ps*pgid/2)))
	}},
	{"a flipped bit in the root page", func(t *testing.T, state string) {
		flipBit(t, state, func(b []byte) int {
			ps, root, _ := boltPages(t, b)
			return root*ps + 8 // the page's type
		})
	}},
	{"a flipped bit in both meta pages", func(t *testing.T, state string) {
		// One bad meta page is what a crash mid-commit leaves, and bbolt
		// reads the other (store.TestOneDamagedMetaPageFallsBack).
		flipBit(t, state, func([]byte) int { return 16 + 20 })
		flipBit(t, state, func(b []byte) int {
			ps, _, _ := boltPages(t, b)
			return ps + 16 + 20
		})
	}},
	{"deleted with results.jsonl present", func(t *testing.T, state string) {
		require.NoError(t, os.Remove(state))
	}},
}

func flipBit(t *testing.T, path string, at func([]byte) int) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[at(b)] ^= 0x02
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// TestDamagedOrMissingStateSubmitsNothing: a 0-byte, truncated,
// bit-flipped or deleted state file made the next run pay for every row
// again (or crash with SIGBUS). Each now ends in exit 74 with a message
// naming the file and the ways back, for every command, and the API sees
// nothing. recover then brings the batch back without a single new submit.
func TestDamagedOrMissingStateSubmitsNothing(t *testing.T) {
	for _, d := range stateDamages {
		t.Run(d.name, func(t *testing.T) {
			srv := startSim(t, sim.Config{})
			m, out, state := renderedBatch(t, srv)
			env := tokenEnv(srv.APIURL)
			d.damage(t, state)
			before := srv.Counters()

			code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out)
			assert.Equal(t, exitIOErr, code, stderr)
			assert.Contains(t, stderr, state, "the message names the file")
			assert.Contains(t, stderr, "pikabatch recover --out "+out)
			assert.Contains(t, stderr, "--fresh")
			code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", out, "--dry-run")
			assert.Equal(t, exitIOErr, code, "a dry run previews a run that would be refused: %s", stderr)
			for _, cmd := range [][]string{
				{"status", "--out", out}, {"export", "--out", out}, {"verify", "--out", out}, {"cancel", "--out", out},
			} {
				code, _, stderr = invoke(t, env, cmd...)
				assert.Equal(t, exitIOErr, code, "%s: %s", cmd[0], stderr)
				assert.Contains(t, stderr, "recover", cmd[0])
			}
			after := srv.Counters()
			assert.Equal(t, before.Submits, after.Submits, "nothing submitted")
			assert.Equal(t, before.CancelCalls, after.CancelCalls)

			code, stdout, stderr := invoke(t, env, "recover", "--out", out)
			require.Equal(t, exitOK, code, stderr)
			assert.Contains(t, stdout, "3 done")
			code, stdout, stderr = invoke(t, env, "run", "--manifest", m, "--out", out)
			require.Equal(t, exitOK, code, stderr)
			assert.Contains(t, stdout, "3 already done")
			assert.Equal(t, before.Submits, srv.Counters().Submits, "zero re-submits after recover")
			for _, k := range []string{"a", "b", "c"} {
				assert.FileExists(t, filepath.Join(out, k+".mp4"))
			}
			if d.name != "deleted with results.jsonl present" {
				matches, err := filepath.Glob(state + ".damaged-*")
				require.NoError(t, err)
				assert.Len(t, matches, 1, "the damaged file is kept aside")
			}
		})
	}
}

func TestFreshStartsOverAndKeepsTheDamagedFile(t *testing.T) {
	srv := startSim(t, sim.Config{})
	m, out, state := renderedBatch(t, srv)
	env := tokenEnv(srv.APIURL)

	code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--fresh")
	assert.Equal(t, exitUsage, code, "--fresh never starts over a readable state: %s", stderr)
	assert.Equal(t, int64(3), srv.Counters().Submits)

	require.NoError(t, os.Truncate(state, 0))
	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", out, "--fresh")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, int64(6), srv.Counters().Submits, "asked explicitly: every row again")
	matches, err := filepath.Glob(state + ".damaged-*")
	require.NoError(t, err)
	require.Len(t, matches, 1)
	fi, err := os.Stat(matches[0])
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "the damaged file, as it was")
}

// TestRecoverKeepsJobsInFlight: rows submitted and not finished when the
// state was lost keep their request IDs, so the next run polls them.
func TestRecoverKeepsJobsInFlight(t *testing.T) {
	srv := startSim(t, sim.Config{Slots: 1, RunTime: 200 * time.Millisecond})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	o := testOptions(srv, m, filepath.Join(dir, "out"))
	lr := startLiveRun(t, o, 3)
	require.ErrorIs(t, lr.stop(t), context.Canceled)
	state := filepath.Join(lr.out, ".pikabatch.db")
	require.NoError(t, os.Remove(state))

	env := tokenEnv(srv.APIURL)
	code, stdout, stderr := invoke(t, env, "recover", "--out", lr.out, "--json")
	require.Equal(t, exitOK, code, stderr)
	var rep recoverJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Equal(t, 3, rep.Jobs)
	assert.Equal(t, 3, rep.InFlight+rep.Done, "%+v", rep)

	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", lr.out)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, int64(3), srv.Counters().Submits, "polled, not submitted again")
	assert.Zero(t, srv.Counters().DuplicateSubmits)
	for _, k := range []string{"a", "b", "c"} {
		assert.FileExists(t, filepath.Join(lr.out, k+".mp4"))
	}
}

func TestStateExitCodes(t *testing.T) {
	ctx := context.Background()
	assert.Equal(t, exitIOErr, exitCode(ctx, fmt.Errorf("open: %w", &store.DamagedError{Path: "x", Reason: "empty"})))
	assert.Equal(t, exitIOErr, exitCode(ctx, fmt.Errorf("%w: x", store.ErrMissing)))
	assert.Equal(t, exitCantCreate, exitCode(ctx, fmt.Errorf("record request ID r of %q: %w", "k", store.ErrWrite)),
		"a full state volume is 73, not 1")
}

// TestLeftoversOfAStateCountAsRenders: a state file's owner file, socket
// or journal left behind say a batch ran here; another shard's renders in
// a shared folder do not.
func TestLeftoversOfAStateCountAsRenders(t *testing.T) {
	srv := startSim(t, sim.Config{})
	env := tokenEnv(srv.APIURL)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	for _, left := range []string{".pikabatch.db.owner", ".pikabatch.db.journal", "clip.mp4"} {
		out := filepath.Join(dir, "out-"+left)
		require.NoError(t, os.MkdirAll(out, 0o755))
		writeFile(t, filepath.Join(out, left), "x")
		code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out)
		assert.Equal(t, exitIOErr, code, "%s: %s", left, stderr)
		assert.Contains(t, stderr, "holds this batch's renders")
	}
	assert.Zero(t, srv.Counters().Submits)

	shared := filepath.Join(dir, "shared")
	require.NoError(t, os.MkdirAll(shared, 0o755))
	writeFile(t, filepath.Join(shared, "results-1-of-2.jsonl"), "")
	writeFile(t, filepath.Join(shared, "b.mp4"), "x")
	code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", shared, "--shard", "0/2")
	assert.Equal(t, exitOK, code, "another shard's renders are not this shard's: %s", stderr)
}

// TestDryRunSeesTheJournal: a run records the journal's request IDs before
// it plans, so its preview counts those rows as polled, not re-sent.
func TestDryRunSeesTheJournal(t *testing.T) {
	srv := startSim(t, sim.Config{})
	m, out, state := renderedBatch(t, srv)
	_, err := openAndSet(t, state, "a", store.StateSubmitting)
	require.NoError(t, err)
	require.NoError(t, store.AppendJournal(state, store.JournalEntry{Batch: batchOf(t, state), Key: "a", RequestID: "req-a", Time: time.Now()}))

	code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out, "--dry-run")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "1  resumable: in flight")
	assert.Contains(t, stdout, "at most 0 paid submits")
	assert.FileExists(t, store.JournalPath(state), "a dry run changes nothing")
}

// TestRecoverFetchesAMissingFileByRequestID: a done row whose file is gone
// is fetched again by its request ID after recover, never rendered again.
func TestRecoverFetchesAMissingFileByRequestID(t *testing.T) {
	srv := startSim(t, sim.Config{})
	m, out, state := renderedBatch(t, srv)
	env := tokenEnv(srv.APIURL)
	require.NoError(t, os.Remove(state))
	require.NoError(t, os.Remove(filepath.Join(out, "b.mp4")))

	code, stdout, stderr := invoke(t, env, "recover", "--out", out, "--json")
	require.Equal(t, exitOK, code, stderr)
	var rep recoverJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Equal(t, 2, rep.Done)
	assert.Equal(t, 1, rep.Refetch)

	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, int64(3), srv.Counters().Submits, "no new render")
	assert.FileExists(t, filepath.Join(out, "b.mp4"))
}
