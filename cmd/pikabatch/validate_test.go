package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest/probe"
)

// controls matches characters a terminal may act on.
var controls = regexp.MustCompile(`[\x00-\x09\x0b-\x1f\x7f\x{80}-\x{9f}\x{202a}-\x{202e}\x{2066}-\x{2069}]`)

// hostileImageHost serves a PNG at every path, and counts requests; at
// /c1.png its Content-Type holds a C1 control (CSI), which Go's header
// parsing lets through.
func hostileImageHost(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...)
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		ct := "image/png"
		if r.URL.Path == "/c1.png" {
			ct = "image/\u009b2J"
		}
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(png)
	}))
	t.Cleanup(host.Close)
	return host, &n
}

// TestValidateCheckURLsRedacts: validate --check-urls printed pre-signed
// URLs whole, secrets included; their signatures are redacted in the text
// and in --json, and the verdict is the last line.
func TestValidateCheckURLsRedacts(t *testing.T) {
	host, _ := hostileImageHost(t)
	dir := t.TempDir()
	signed := host.URL + "/a.png?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeefsecret&X-Amz-Expires=900"
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,image\na,"+signed+"\nb,"+host.URL+"/c1.png\n")

	code, stdout, stderr := invoke(t, nil, "validate", "--manifest", m, "--check-urls", "--check-rps", "1000")
	require.Equal(t, exitOK, code, stderr)
	for _, out := range []string{stdout, stderr} {
		assert.NotContains(t, out, "deadbeefsecret")
		assert.NotContains(t, out, "AKIAEXAMPLE")
		assert.NotRegexp(t, controls, out)
	}
	assert.Contains(t, stdout, host.URL+"/a.png?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Expires=900")
	assert.Contains(t, stdout, `image/\u009b2j`, "a host's text is escaped, not dropped")
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	assert.Equal(t, m+": 2 rows", lines[0], "the first line gives no verdict before the URLs are checked")
	assert.Equal(t, m+": 2 rows, valid; every image URL ok", lines[len(lines)-1], "the verdict comes last")

	code, stdout, stderr = invoke(t, nil, "validate", "--manifest", m, "--check-urls", "--check-rps", "1000", "--json")
	require.Equal(t, exitOK, code, stderr)
	assert.NotContains(t, stdout, "deadbeefsecret")
	assert.NotContains(t, stdout, "AKIAEXAMPLE")
	var rep struct {
		URLs []probe.RowCheck `json:"urls"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.URLs, 2)
	assert.Equal(t, host.URL+"/a.png?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Expires=900", rep.URLs[0].URL)
	assert.NotRegexp(t, controls, rep.URLs[1].ContentType)
}

// TestValidateVerdictLast: with --check-urls, "N rows, valid" was printed
// before "M would fail"; the last line is the verdict.
func TestValidateVerdictLast(t *testing.T) {
	host, _ := hostileImageHost(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(gone.Close)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,image\na,"+host.URL+"/a.png\nb,"+gone.URL+"/b.png\nc,"+gone.URL+"/c.png\n")
	code, stdout, _ := invoke(t, nil, "validate", "--manifest", m, "--check-urls", "--check-rps", "1000")
	assert.Equal(t, exitDataErr, code)
	assert.NotContains(t, stdout, "valid")
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	assert.Equal(t, m+": 3 rows, 2 would fail: their image URLs failed the check", lines[len(lines)-1])
}

// TestValidateRefusesUserinfo: credentials in an image URL are refused
// before any host is asked, and never printed.
func TestValidateRefusesUserinfo(t *testing.T) {
	host, requests := hostileImageHost(t)
	dir := t.TempDir()
	u := strings.Replace(host.URL, "http://", "http://alice:s3cret@", 1) + "/a.png"
	m := writeFile(t, filepath.Join(dir, "m.jsonl"), `{"id":"a","image":"`+u+`"}`+"\n")
	for _, args := range [][]string{{"validate", "--manifest", m, "--check-urls"}, {"validate", "--manifest", m, "--check-urls", "--json"}} {
		code, stdout, stderr := invoke(t, nil, args...)
		assert.Equal(t, exitDataErr, code)
		assert.NotContains(t, stdout+stderr, "s3cret")
		assert.NotContains(t, stdout+stderr, "alice")
		assert.Contains(t, stderr, "m.jsonl:1: field image:")
	}
	assert.Zero(t, requests.Load(), "no host is asked about an invalid manifest")
}

// TestValidateEscapesManifestText: an unknown column named with escape
// sequences reached the terminal raw, where it could drive the terminal.
func TestValidateEscapesManifestText(t *testing.T) {
	dir := t.TempDir()
	esc := "\x1b[2J\x1b]0;pwned\x07\u009b31m"
	csv := writeFile(t, filepath.Join(dir, "m.csv"), "id,image,"+esc+"\na,https://img.example.com/a.png,x\n")
	jsonl := writeFile(t, filepath.Join(dir, "m.jsonl"),
		`{"id":"a","image":"https://img.example.com/a.png","\u001b[2J":1,"seed":"\u001b[31m"}`+"\n"+
			`{"id":"b","image":"https://img.example.com/\u009b2J"}`+"\n")
	for _, m := range []string{csv, jsonl} {
		for _, cmd := range []string{"validate", "run"} {
			args := []string{cmd, "--manifest", m}
			if cmd == "run" {
				args = append(args, "--out", filepath.Join(dir, "out"))
			}
			code, stdout, stderr := invoke(t, tokenEnv("http://127.0.0.1:1"), args...)
			assert.Equal(t, exitDataErr, code, stderr)
			assert.NotRegexp(t, controls, stdout+stderr, "%s %s", cmd, m)
			assert.Contains(t, stderr, `\x1b[2J`, "escaped, not dropped")
		}
	}
}
