package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

func TestCronLimits(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	env := tokenEnv(srv.APIURL)

	t.Run("max-submits", func(t *testing.T) {
		before := srv.Counters().Submits
		code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "cap"), "--max-submits", "2")
		assert.Equal(t, exitTempFail, code, stderr)
		assert.Contains(t, stderr, "submit cap reached")
		assert.Contains(t, stdout, "1 not submitted")
		assert.EqualValues(t, 2, srv.Counters().Submits-before)
	})
	t.Run("deadline", func(t *testing.T) {
		before := srv.Counters().Submits
		code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "late"), "--deadline", "1ns")
		assert.Equal(t, exitTempFail, code, stderr)
		assert.Contains(t, stderr, "deadline reached")
		assert.Equal(t, before, srv.Counters().Submits)
	})
	t.Run("negative", func(t *testing.T) {
		code, _, _ := invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "x"), "--max-submits", "-1")
		assert.Equal(t, exitUsage, code)
	})
}

func TestSecondRunNamesTheLiveOne(t *testing.T) {
	srv := slowSim(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	lr := startLiveRun(t, testOptions(srv, m, filepath.Join(dir, "out")), 3)
	before := srv.Counters().Submits

	env := tokenEnv(srv.APIURL)
	code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", lr.out)
	assert.Equal(t, exitTempFail, code, "try again later")
	host, _ := os.Hostname()
	assert.Contains(t, stderr, fmt.Sprintf("is in use by pid %d on host %s since ", os.Getpid(), host))
	assert.Equal(t, before, srv.Counters().Submits, "the second run sent nothing")
}

func TestLockedStateFileExitsTempFail(t *testing.T) {
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	require.NoError(t, os.MkdirAll(out, 0o755))
	st, err := store.Open(filepath.Join(out, ".pikabatch.db"), store.Options{Owner: store.Owner{PID: os.Getpid(), Command: "pikabatch run --manifest m.csv"}})
	require.NoError(t, err)
	defer st.Close()
	code, _, stderr := invoke(t, map[string]string{"RUNCOMFY_API_BASE": "http://127.0.0.1:1", "RUNCOMFY_API_TOKEN": testToken},
		"run", "--manifest", m, "--out", out)
	assert.Equal(t, exitTempFail, code)
	assert.Contains(t, stderr, "(pikabatch run --manifest m.csv)")
}

func TestNotify(t *testing.T) {
	srv := startSim(t, sim.Config{})
	got := make(chan notifyPayload, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p notifyPayload
		b, _ := io.ReadAll(r.Body)
		if assert.NoError(t, json.Unmarshal(b, &p)) {
			assert.NotContains(t, string(b), testToken)
			got <- p
		}
	}))
	t.Cleanup(hook.Close)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	env := map[string]string{"RUNCOMFY_API_BASE": srv.APIURL, "RUNCOMFY_API_TOKEN": testToken, "RUNCOMFY_API_TOKEN_FILE": "",
		"PIKABATCH_NOTIFY_URL": ""}
	code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out"), "--notify-url", hook.URL+"/secret-path")
	require.Equal(t, exitOK, code, stderr)
	p := <-got
	assert.Equal(t, "done", p.Outcome)
	assert.Equal(t, 0, p.ExitCode)
	assert.Equal(t, 3, p.Summary.Rows)
	assert.Equal(t, 3, p.Summary.Submitted)
	assert.Contains(t, p.Text, "done (exit 0): rows 3: 3 done")
	assert.NotContains(t, stderr, "secret-path", "a webhook URL is a secret")

	t.Run("a refusing webhook does not change the exit code", func(t *testing.T) {
		bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusInternalServerError)
		}))
		t.Cleanup(bad.Close)
		env["PIKABATCH_NOTIFY_URL"] = bad.URL
		code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out"))
		assert.Equal(t, exitOK, code)
		assert.Contains(t, stderr, "notify: refused")
	})
	t.Run("not a URL", func(t *testing.T) {
		code, _, _ := invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out"), "--notify-url", "hooks.example.com")
		assert.Equal(t, exitUsage, code)
	})
}

func TestSummaryNamesTheAccountLimit(t *testing.T) {
	// The account takes one job at once; the run asks for two. The second
	// submit is refused, backs off for real (Retry-After 1s), is refused
	// again while the first job runs (2s), then waits for it to finish.
	srv := startSim(t, sim.Config{Slots: 1, MaxConcurrentSubmits: 1, RunTime: 2 * time.Second})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,image,promptText\n"+
		"a,https://img.example.com/a.jpg,waves\n"+
		"b,https://img.example.com/b.jpg,wind\n")
	code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "out"),
		"--concurrency", "2", "--rps", "0")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "account limit: a submit was refused with 1 job of this run on the account")
	assert.Contains(t, stderr, "the account takes no more jobs at once")
	c := srv.Counters()
	assert.EqualValues(t, 2, c.Submits)
	assert.EqualValues(t, 2, c.RateLimited, "refused once as the rate, once as the account's limit; then it waited")
	assert.Zero(t, c.DuplicateSubmits)
}
