package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// TestMapTypoSubmitsNothing: a --map whose column the manifest lacks is
// refused with a did-you-mean even when --keep-columns '*' would keep the
// misspelt column, in CSV and JSONL, and nothing is sent.
func TestMapTypoSubmitsNothing(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	for name, content := range map[string]string{
		"data.csv":   "url,caption\nhttps://img.example.com/a.png,a cat\nhttps://img.example.com/b.png,a dog\n",
		"data.jsonl": `{"url":"https://img.example.com/a.png","caption":"a cat"}` + "\n" + `{"url":"https://img.example.com/b.png","caption":"a dog"}` + "\n",
	} {
		m := writeFile(t, filepath.Join(dir, name), content)
		flags := []string{"--manifest", m, "--map", "promptText=captoin,image=url", "--keep-columns", "*"}
		code, _, stderr := invoke(t, nil, append([]string{"validate"}, flags...)...)
		assert.NotEqual(t, exitOK, code, name)
		assert.Contains(t, stderr, `map promptText=captoin`, name)
		assert.Contains(t, stderr, `did you mean "caption"?`, name)

		code, _, stderr = invoke(t, tokenEnv(srv.APIURL), append([]string{"run", "--out", filepath.Join(dir, "out-"+name),
			"--progress", "off"}, flags...)...)
		assert.NotEqual(t, exitOK, code, name)
		assert.Contains(t, stderr, `did you mean "caption"?`, name)
	}
	assert.Zero(t, srv.Counters().Submits, "a mapping typo sends nothing")
}

// TestKeptColumnsCannotShadowExportColumns: --keep-columns '*' on a
// manifest with a column named like the export's own (state, file) is
// refused before anything is sent: the CSV export would have two state
// columns, and readers take the kept one for the job's own.
func TestKeptColumnsCannotShadowExportColumns(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "data.csv"), "image,state,file\nhttps://img.example.com/a.png,done,../../etc/passwd\n")
	code, _, stderr := invoke(t, nil, "validate", "--manifest", m, "--keep-columns", "*")
	assert.Equal(t, exitDataErr, code, stderr)
	assert.Contains(t, stderr, `"state" is one of pikabatch's own columns`)

	code, _, stderr = invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--keep-columns", "*",
		"--out", filepath.Join(dir, "out"), "--results-format", "csv", "--progress", "off")
	assert.Equal(t, exitDataErr, code, stderr)
	assert.Contains(t, stderr, `"file" is one of pikabatch's own columns`)

	code, _, stderr = invoke(t, nil, "validate", "--manifest", m, "--keep-columns", "request_id")
	assert.Equal(t, exitUsage, code, stderr)
	assert.Zero(t, srv.Counters().Submits)
}
