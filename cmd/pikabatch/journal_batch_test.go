package main

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// batchOf returns the batch identity of the state file at path, which
// journal lines written for it must carry.
func batchOf(t *testing.T, path string) string {
	t.Helper()
	st, err := store.Open(path, store.Options{ReadOnly: true})
	require.NoError(t, err)
	defer st.Close()
	require.NotEmpty(t, st.BatchID())
	return st.BatchID()
}

// TestRecoverKeepsTheBatchsJournal: recover rebuilds the state file of the
// batch whose journal lies beside it; the new file takes the journal's
// batch identity, so the journal's request IDs are applied, not refused.
func TestRecoverKeepsTheBatchsJournal(t *testing.T) {
	srv := startSim(t, sim.Config{})
	_, out, state := renderedBatch(t, srv)
	batch := batchOf(t, state)
	require.NoError(t, store.AppendJournal(state, store.JournalEntry{Batch: batch, Key: "late", RequestID: "req-late", Time: time.Now()}))
	require.NoError(t, os.Remove(state))

	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "recover", "--out", out, "--json")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, batch, batchOf(t, state), "the rebuilt state is the same batch")
	assert.NoFileExists(t, store.JournalPath(state), "applied")
	st, err := store.Open(state, store.Options{ReadOnly: true})
	require.NoError(t, err)
	defer st.Close()
	j, err := st.Get(t.Context(), "late")
	require.NoError(t, err)
	assert.Equal(t, "req-late", j.RequestID)
}

// TestFreshAppliesTheJournalBesideIt: --fresh over a damaged state file
// keeps the journal beside it as that batch's: its request IDs are jobs
// paid for, polled rather than submitted again.
func TestFreshAppliesTheJournalBesideIt(t *testing.T) {
	srv := startSim(t, sim.Config{})
	m, out, state := renderedBatch(t, srv)
	require.NoError(t, store.AppendJournal(state, store.JournalEntry{Batch: batchOf(t, state), Key: "late", RequestID: "req-late", Time: time.Now()}))
	require.NoError(t, os.WriteFile(state, []byte("not a state file"), 0o600))

	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out, "--fresh", "--progress", "off")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "req-late")
	assert.NoFileExists(t, store.JournalPath(state), "applied")
}
