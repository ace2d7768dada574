package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// pikaSeedAs returns the built-in Pika schema with seed's type replaced
// by seedSchema, as a --schema file in dir.
func pikaSeedAs(t *testing.T, dir, name, seedSchema string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "manifest", "schemas", "pika-pika-2-2-image-to-video.json"))
	require.NoError(t, err)
	old := "\"seed\": {\n      \"type\": \"integer\"\n    }"
	require.Contains(t, string(raw), old)
	return writeFile(t, filepath.Join(dir, name), strings.Replace(string(raw), old, `"seed": `+seedSchema, 1))
}

// TestSchemaThatRekeysIsRefused: a Pika batch run first with the built-in
// schema, then with a --schema typing seed as a string, paid again for
// every row without an id (10 of 10). The schema the rows were keyed with
// is recorded at first use, the built-in one included, and a later one
// that would key them otherwise is refused before anything is sent. One
// that keys them alike (a bound added) is taken.
func TestSchemaThatRekeysIsRefused(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 5})
	dir := t.TempDir()
	var rows strings.Builder
	rows.WriteString("image,promptText,seed\n")
	for i := range 10 {
		rows.WriteString("https://img.example.com/" + strconv.Itoa(i) + ".jpg,waves," + strconv.Itoa(40+i) + "\n")
	}
	m := writeFile(t, filepath.Join(dir, "m.csv"), rows.String())
	out := filepath.Join(dir, "out")
	args := []string{"run", "--manifest", m, "--out", out, "--progress", "off"}
	env := tokenEnv(srv.APIURL)

	code, _, stderr := invoke(t, env, args...)
	require.Equal(t, exitOK, code, stderr)
	require.EqualValues(t, 10, srv.Counters().Submits)

	retyped := pikaSeedAs(t, dir, "retyped.json", `{"type":"string"}`)
	code, _, stderr = invoke(t, env, append(args, "--schema", retyped)...)
	assert.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "seed: integer, now string")
	assert.Contains(t, stderr, "leave out --schema")
	assert.EqualValues(t, 10, srv.Counters().Submits, "nothing paid again")
	code, stdout, stderr := invoke(t, env, append(args, "--schema", retyped, "--dry-run")...)
	assert.Equal(t, exitUsage, code, "the preview refuses what the run would: %s%s", stdout, stderr)

	alike := pikaSeedAs(t, dir, "alike.json", `{"type":"integer","maximum":1000}`)
	code, _, stderr = invoke(t, env, append(args, "--schema", alike)...)
	assert.Equal(t, exitOK, code, stderr)
	assert.EqualValues(t, 10, srv.Counters().Submits)
}

// TestKeySchemaAdoptedByAnOlderState: a state file from before the schema
// was recorded adopts this run's, and the log says so.
func TestKeySchemaAdoptedByAnOlderState(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 5})
	m, out, state := renderedBatch(t, srv)
	st, err := store.Open(state, store.Options{})
	require.NoError(t, err)
	require.NoError(t, st.SetMeta(t.Context(), batch.KeySchemaMetaKey, ""))
	require.NoError(t, st.Close())

	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out, "--progress", "off")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "no record of the schema its rows were keyed with")
	st, err = store.Open(state, store.Options{ReadOnly: true})
	require.NoError(t, err)
	defer st.Close()
	rec, err := st.Meta(t.Context(), batch.KeySchemaMetaKey)
	require.NoError(t, err)
	assert.Contains(t, rec, `"seed":"integer"`)
}
