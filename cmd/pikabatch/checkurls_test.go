package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/probe"
)

// TestURLsJSONMatchesWriteJSON: --check-urls --json is written row by row
// (so that a manifest of any size is checked in bounded memory), byte for
// byte what encoding the whole report at the end would give.
func TestURLsJSONMatchesWriteJSON(t *testing.T) {
	t.Parallel()
	sum := manifest.Summary{Rows: 3, ByResolution: map[string]int{"1080p": 3}, ByDuration: map[int]int{5: 3}}
	checks := []probe.RowCheck{
		{Line: 2, Key: "a", Result: probe.Result{URL: "https://h/a.png?x=1&y=<2>", OK: true, Status: 200, Method: "HEAD", ContentType: "image/png", Size: 12}},
		{Line: 3, Key: "b", Result: probe.Result{URL: "https://h/b.png", Status: 404, Method: "HEAD", Size: -1, Problem: "HTTP 404 Not Found"}},
		{Line: 4, Key: "c\u2028", Result: probe.Result{URL: "https://h/c", Size: -1, Problem: "not an image (text/html)"}},
	}
	for _, n := range []int{0, 1, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			var want, got bytes.Buffer
			kept := append([]probe.RowCheck{}, checks[:n]...) // [] when no row was checked
			writeJSON(&want, struct {
				validateJSON
				URLs []probe.RowCheck `json:"urls"` // even when empty
			}{validateJSONOf(sum), kept})
			j, err := newURLsJSON(&got, sum)
			require.NoError(t, err)
			for _, ch := range checks[:n] {
				j.add(ch)
			}
			j.close()
			assert.Equal(t, want.String(), got.String())
		})
	}
}

// TestValidateCheckURLsStreamsInManifestOrder: many rows with distinct
// URLs are checked concurrently and printed in manifest order, in the
// text and in --json.
func TestValidateCheckURLsStreamsInManifestOrder(t *testing.T) {
	host, requests := hostileImageHost(t)
	const rows = 500
	var b strings.Builder
	b.WriteString("id,image\n")
	for i := range rows {
		fmt.Fprintf(&b, "r%03d,%s/img-%d.png\n", i, host.URL, i)
	}
	m := writeFile(t, filepath.Join(t.TempDir(), "m.csv"), b.String())
	args := []string{"validate", "--manifest", m, "--check-urls", "--check-rps", "1000", "--check-concurrency", "4"}

	code, stdout, stderr := invoke(t, nil, args...)
	require.Equal(t, exitOK, code, stderr)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	var checked []string
	for _, l := range lines {
		if strings.HasPrefix(l, "  "+m+":") {
			checked = append(checked, l)
		}
	}
	require.Len(t, checked, rows)
	for i, l := range checked {
		require.Contains(t, l, fmt.Sprintf("%s:%d r%03d ", m, i+2, i), "line %d in manifest order", i)
	}
	assert.Contains(t, stdout, fmt.Sprintf("image URLs: %d rows checked, %d ok, 0 would fail", rows, rows))
	assert.Equal(t, fmt.Sprintf("%s: %d rows, valid; every image URL ok", m, rows), lines[len(lines)-1])
	assert.EqualValues(t, rows, requests.Load(), "each distinct URL asked once")

	code, stdout, stderr = invoke(t, nil, append(args, "--json")...)
	require.Equal(t, exitOK, code, stderr)
	var rep struct {
		Rows int
		URLs []probe.RowCheck `json:"urls"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Equal(t, rows, rep.Rows)
	require.Len(t, rep.URLs, rows)
	for i, ch := range rep.URLs {
		require.Equal(t, i+2, ch.Line, "manifest order")
		require.True(t, ch.OK)
	}
}

// An HTML page served as a .jpg (a sign-in page, say) fails, and the
// verdict is the last line.
func TestCheckURLsRefusesAPageServedAsAnImage(t *testing.T) {
	t.Parallel()
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		if r.URL.Path == "/login.jpg" {
			_, _ = w.Write([]byte("<!doctype html><html><body>Sign in to see this photo</body></html>"))
			return
		}
		_, _ = w.Write([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00" + strings.Repeat("\x00", 600)))
	}))
	t.Cleanup(host.Close)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,image\na,"+host.URL+"/a.jpg\nb,"+host.URL+"/login.jpg\n")
	code, stdout, _ := invoke(t, nil, "validate", "--manifest", m, "--check-urls", "--check-rps", "1000")
	assert.Equal(t, exitDataErr, code)
	assert.Contains(t, stdout, "FAIL "+host.URL+"/login.jpg — not an image: an HTML page served as image/jpeg")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	assert.Equal(t, m+": 2 rows, 1 would fail: their image URLs failed the check", lines[len(lines)-1], "the verdict last")
	assert.NotContains(t, stdout, "valid")
}
