package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest/probe"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/sim"
)

func TestDryRun(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	noToken := map[string]string{"RUNCOMFY_API_BASE": srv.APIURL, "RUNCOMFY_API_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": "", "RUNCOMFY_TOKEN": ""}

	code, stdout, stderr := invoke(t, noToken, "run", "--dry-run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "3  new: would be submitted")
	assert.Contains(t, stdout, "at most 3 paid submits")
	assert.NoDirExists(t, out, "a dry run creates nothing")

	env := tokenEnv(srv.APIURL)
	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, stderr)
	before := srv.Counters()

	// Row a's file is lost, c's prompt changed, d is new.
	require.NoError(t, os.Remove(filepath.Join(out, "a.mp4")))
	writeFile(t, m, "id,image,promptText,seed\n"+
		"a,https://img.example.com/a.jpg,waves,1\n"+
		"b,https://img.example.com/b.jpg,wind,2\n"+
		"c,https://img.example.com/c.jpg,storm,3\n"+
		"d,https://img.example.com/d.jpg,sun,4\n")
	code, stdout, stderr = invoke(t, noToken, "run", "--dry-run", "--manifest", m, "--out", out, "--json")
	require.Equal(t, exitOK, code, stderr)
	var p planJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &p))
	// The price the first run recorded prices the preview.
	if assert.NotNil(t, p.EstimatedCost) {
		assert.Equal(t, 1, p.EstimatedCost.Rows)
	}
	p.EstimatedCost = nil
	assert.Equal(t, planJSON{Version: jsonVersion, Plan: runner.Plan{Rows: 4, New: 1, Download: 1, Done: 1, Changed: 1, Submits: 1}}, p)
	assert.Equal(t, before, srv.Counters(), "nothing sent")
	assert.NoFileExists(t, filepath.Join(out, "a.mp4"))
}

func TestValidateCheckURLs(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...)
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(png)
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html></html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(host.Close)
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.csv"), "id,image\na,"+host.URL+"/a.png\nb,"+host.URL+"/a.png\n")
	bad := writeFile(t, filepath.Join(dir, "bad.csv"), "id,image\na,"+host.URL+"/a.png\nb,"+host.URL+"/gone.png\nc,"+host.URL+"/page\n")

	code, stdout, stderr := invoke(t, nil, "validate", "--manifest", good, "--check-urls", "--check-rps", "1000")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "2 rows, valid")
	assert.Contains(t, stdout, "image URLs: 2 rows checked, 2 ok, 0 would fail")

	code, stdout, _ = invoke(t, nil, "validate", "--manifest", bad, "--check-urls", "--check-rps", "1000")
	assert.Equal(t, exitDataErr, code)
	assert.Contains(t, stdout, "bad.csv:3 b")
	assert.Contains(t, stdout, "FAIL "+host.URL+"/gone.png — HTTP 404 Not Found")
	assert.Contains(t, stdout, "not an image (text/html)")
	assert.Contains(t, stdout, "3 rows checked, 1 ok, 2 would fail")

	code, stdout, _ = invoke(t, nil, "validate", "--manifest", bad, "--check-urls", "--check-rps", "1000", "--json")
	assert.Equal(t, exitDataErr, code)
	var rep struct {
		Rows int
		URLs []probe.RowCheck `json:"urls"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.URLs, 3)
	assert.True(t, rep.URLs[0].OK)
	assert.Equal(t, 404, rep.URLs[1].Status)
}
