package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/api"
)

// rawControls matches what a terminal acts on: C0 but line feed, DEL, C1.
var rawControls = regexp.MustCompile("[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f]")

// hostileSchema has property names, an enum, a default and a format that
// hold terminal escapes: a title change, a screen clear, an 8-bit CSI.
const hostileSchema = `{"type":"object","properties":{
	"prompt\u001b]0;pwned\u0007":{"type":"string","enum":["a\u001b[2J","b"],"default":"a\u001b[2J"},
	"size\u009b31m":{"type":"string","format":"uri\u001b[2J"}},"required":["prompt\u001b]0;pwned\u0007"]}`

// TestSchemaNamesReachTheTerminalEscaped: property names (and the other
// words of a schema) reach the terminal through validate's messages and
// `models show`; each is printed with its escapes neutralised.
func TestSchemaNamesReachTheTerminalEscaped(t *testing.T) {
	dir := t.TempDir()
	schema := writeFile(t, filepath.Join(dir, "s.json"), hostileSchema)
	m := writeFile(t, filepath.Join(dir, "m.csv"), "promt\nx\n")
	code, stdout, stderr := invoke(t, nil, "validate", "--manifest", m, "--schema", schema)
	assert.Equal(t, exitDataErr, code, stderr)
	assert.Contains(t, stderr, `prompt\x1b]0;pwned\a`, "the name is shown, escaped")
	assert.NotRegexp(t, rawControls, stderr+stdout)

	code, stdout, stderr = invoke(t, nil, "validate", "--manifest", m, "--schema", schema, "--map", "promptX=promt")
	assert.Equal(t, exitUsage, code, stderr)
	assert.NotRegexp(t, rawControls, stderr+stdout)

	files := writeFile(t, filepath.Join(dir, "files.json"), `{"type":"object","properties":{
		"image\u001b[2J":{"type":"string","format":"uri"},"mask\u001b]0;x\u0007":{"type":"string","format":"uri"}}}`)
	m2 := writeFile(t, filepath.Join(dir, "m2.jsonl"), `{"image\u001b[2J":"http://127.0.0.1:1/a.png","mask\u001b]0;x\u0007":"http://127.0.0.1:1/b.png"}`+"\n")
	code, stdout, stderr = invoke(t, nil, "validate", "--manifest", m2, "--schema", files, "--check-urls", "--check-rps", "1000")
	assert.Equal(t, exitDataErr, code, stderr)
	assert.Contains(t, stdout, `image\x1b[2J`, "--check-urls names each file field, escaped")
	assert.NotRegexp(t, rawControls, stderr+stdout)

	var out bytes.Buffer
	require.NoError(t, printModel(&out, api.Model{ID: "x/y\x1b[2J", DisplayName: "Y\x1b]0;t\a", Categories: []string{"c\x1b[1m"},
		InputSchema: json.RawMessage(hostileSchema)}, false))
	assert.NotRegexp(t, rawControls, out.String())
	assert.Contains(t, out.String(), `prompt\x1b]0;pwned\a`)
}
