package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// catalogProxy fronts the simulator: while *serve is false the catalog
// answers 404 (the real API may not serve it), else it serves the
// simulator's entries with rewrite applied.
func catalogProxy(t *testing.T, srv *sim.Running, serve *atomic.Bool, rewrite func(string) string) string {
	t.Helper()
	target, err := url.Parse(srv.APIURL)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodGet || !strings.HasPrefix(resp.Request.URL.Path, "/v1/models") {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		body = []byte(rewrite(string(body)))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/models") && !serve.Load() {
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	return proxy.URL
}

// A Pika batch begun while the catalog did not serve the model (404: the
// built-in schema) must not be submitted again when the catalog later
// serves a schema that reads a CSV cell differently: rows without an id
// are keyed by their input, and a seed read as "42" instead of 42 is a
// new key, a new job, paid twice.
func TestPikaKeysStableWhenTheCatalogAppears(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 5})
	var serve atomic.Bool
	base := catalogProxy(t, srv, &serve, func(body string) string {
		return strings.ReplaceAll(body, `"seed":{"type":"integer"`, `"seed":{"type":"string"`)
	})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), "image,promptText,seed\n"+
		"https://img.example.com/0.jpg,waves,42\n"+
		"https://img.example.com/1.jpg,dunes,7\n")
	args := []string{"run", "--manifest", m, "--out", filepath.Join(dir, "out"), "--progress", "off"}

	code, _, stderr := invoke(t, tokenEnv(base), args...)
	require.Equal(t, exitOK, code, stderr)
	require.EqualValues(t, 2, srv.Counters().Submits)

	serve.Store(true)
	code, _, stderr = invoke(t, tokenEnv(base), args...)
	assert.Equal(t, exitOK, code, stderr)
	assert.EqualValues(t, 2, srv.Counters().Submits, "nothing submitted twice")

}

// A batch whose schema the state file recorded refuses a later --schema
// that types a field otherwise: the rows were keyed and hashed with the
// recorded one, and a file typing a field otherwise ("42" a string) would
// make every row without an id a new job, paid again.
func TestRecordedSchemaWinsOverSchemaFile(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 5})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), "prompt,seed\nwaves,42\ndunes,7\n")
	args := []string{"run", "--manifest", m, "--out", filepath.Join(dir, "out"), "--progress", "off", "--model", sim.TextToVideoModel}

	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), args...)
	require.Equal(t, exitOK, code, stderr)
	require.EqualValues(t, 2, srv.Counters().Submits)

	var schema string
	for _, c := range sim.DefaultCatalog() {
		if c.ID == sim.TextToVideoModel {
			schema = strings.ReplaceAll(string(c.InputSchema), `"seed":{"type":"integer"`, `"seed":{"type":"string"`)
		}
	}
	file := writeFile(t, filepath.Join(dir, "schema.json"), schema)
	code, _, stderr = invoke(t, tokenEnv(srv.APIURL), append(args, "--schema", file)...)
	assert.Equal(t, exitUsage, code, stderr)
	assert.EqualValues(t, 2, srv.Counters().Submits, "nothing submitted twice")
	assert.Contains(t, stderr, "seed: integer, now string")
}

// A catalog that answers 404 for Pika (the real API may not serve it)
// lets a Pika run go on with the built-in schema and price, quietly: an
// Info line, no warning per run or per row.
func TestPikaRunWithoutACatalog(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 5})
	var serve atomic.Bool
	base := catalogProxy(t, srv, &serve, func(body string) string { return body })
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	code, stdout, stderr := invoke(t, tokenEnv(base), "run", "--manifest", m, "--out", filepath.Join(dir, "out"), "--progress", "off")
	require.Equal(t, exitOK, code, stderr)
	assert.EqualValues(t, 6, srv.Counters().Submits)
	assert.NotContains(t, stderr, "level=WARN")
	assert.NotContains(t, stdout, "WARN")
}
