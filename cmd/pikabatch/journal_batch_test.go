package main

import (
	"testing"

	"github.com/stretchr/testify/require"

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
