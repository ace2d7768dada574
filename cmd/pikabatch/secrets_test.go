package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/progress"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// sixRows is a small batch for the leak scenarios.
const sixRows = "id,image,promptText,seed\n" +
	"r1,https://img.example.com/1.jpg,waves,1\n" +
	"r2,https://img.example.com/2.jpg,wind,2\n" +
	"r3,https://img.example.com/3.jpg,rain,3\n" +
	"r4,https://img.example.com/4.jpg,snow,4\n" +
	"r5,https://img.example.com/5.jpg,fog,5\n" +
	"r6,https://img.example.com/6.jpg,sun,6\n"

// debugJSON asks run for every log line there is, in the format a log
// shipper would store.
var debugJSON = []string{"--log-level", "debug", "--log-format", "json"}

// loopbackSim is the simulator on two httptest listeners, its API and its
// file host on different origins, as sim.Start does. httptest's Close also
// drops connections a client dialed but never used, which sim.Running.Close
// (http.Server.Shutdown) waits up to 5s for: runBatch leaves such
// connections in its transports' pools.
type loopbackSim struct {
	*sim.Server
	APIURL, FilesURL string
}

// startLoopbackSim is startSim on httptest listeners; cfg.Token defaults to
// testToken.
func startLoopbackSim(t *testing.T, cfg sim.Config) *loopbackSim {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	if cfg.RunTime == 0 {
		cfg.RunTime = 20 * time.Millisecond
	}
	if cfg.Slots == 0 {
		cfg.Slots = 8
	}
	s, err := sim.New(cfg)
	require.NoError(t, err)
	apiSrv := httptest.NewServer(s.APIHandler())
	t.Cleanup(apiSrv.Close)
	files := httptest.NewServer(s.FilesHandler())
	t.Cleanup(files.Close)
	s.SetFilesBase(files.URL)
	return &loopbackSim{Server: s, APIURL: apiSrv.URL, FilesURL: files.URL}
}

// leakScan knows what must never be written and checks outputs and folders.
type leakScan struct {
	// secrets must appear nowhere, the state file included: the token and
	// distinctive parts of it.
	secrets []string
	// urlSecrets are pre-signed result URL query strings: the state file
	// may keep them (it needs them to resume downloads), but logs, stdout,
	// stderr, the results index and exports must not.
	urlSecrets []string
}

func newLeakScan() *leakScan {
	return &leakScan{
		secrets:    []string{testToken, "0123456789abcdef", "-SECRET"},
		urlSecrets: []string{"sig=", "expires="},
	}
}

// addSigs adds the signatures of every result URL the simulator issues now:
// without an expiry they are the ones the run downloaded from.
func (ls *leakScan) addSigs(t *testing.T, srv *loopbackSim) {
	t.Helper()
	c, err := api.New(api.Config{BaseURL: srv.APIURL, Token: api.Token(testToken), MaxRetries: 50,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	n := 0
	for _, j := range srv.Jobs() {
		if j.State != sim.StateCompleted {
			continue
		}
		res, err := c.Result(t.Context(), j.RequestID)
		require.NoError(t, err)
		for _, raw := range res.Outputs {
			u, err := url.Parse(raw)
			require.NoError(t, err)
			sig := u.Query().Get("sig")
			require.NotEmpty(t, sig, "simulator result URLs are signed: %s", raw)
			ls.urlSecrets = append(ls.urlSecrets, sig)
			n++
		}
	}
	require.Positive(t, n, "some result URL was issued")
}

// text checks one output (stdout, stderr, a webhook body).
func (ls *leakScan) text(t *testing.T, what, s string) {
	t.Helper()
	var found []string
	for _, sec := range append(ls.secrets, ls.urlSecrets...) {
		if strings.Contains(s, sec) {
			found = append(found, sec)
		}
	}
	assert.Empty(t, found, "%s leaks these:\n%s", what, s)
}

// dir checks every regular file under root. The state files may hold result
// URLs, never the token; videos are only checked for the token and the
// signatures, not for short strings random bytes could hold.
func (ls *leakScan) dir(t *testing.T, what, root string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, p)
		name := what + ": " + rel
		for _, sec := range ls.secrets {
			assert.False(t, bytes.Contains(b, []byte(sec)), "%s holds %q", name, sec)
		}
		switch {
		case strings.HasPrefix(filepath.Base(p), ".pikabatch") && strings.HasSuffix(p, ".db"):
			// The checkpoint store keeps the URLs it downloads from.
		default:
			for _, sec := range ls.urlSecrets {
				if strings.HasSuffix(p, ".mp4") && !isSig(sec) {
					continue
				}
				assert.False(t, bytes.Contains(b, []byte(sec)), "%s holds %q", name, sec)
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Positive(t, files, "%s: nothing to scan in %s", what, root)
}

// isSig tells a collected signature (32 hex digits) from a literal such as "sig=".
func isSig(s string) bool { return len(s) == 32 && !strings.ContainsAny(s, "=&") }

// all runs the checks on one command's outputs and on its folders.
func (ls *leakScan) all(t *testing.T, what, stdout, stderr string, dirs ...string) {
	t.Helper()
	ls.text(t, what+" stdout", stdout)
	ls.text(t, what+" stderr", stderr)
	for _, d := range dirs {
		ls.dir(t, what, d)
	}
}

// runArgs is `run` over m into out with debug JSON logs, no rate limit (the
// simulator is local) and extra flags.
func runArgs(m, out string, extra ...string) []string {
	args := append([]string{"run", "--manifest", m, "--out", out, "--rps", "0"}, debugJSON...)
	return append(args, extra...)
}

// webhook records what --notify-url receives.
type webhook struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []string
	withAuth atomic.Int64
}

func newWebhook(t *testing.T) *webhook {
	t.Helper()
	w := &webhook{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			w.withAuth.Add(1)
		}
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.bodies = append(w.bodies, string(b))
		w.mu.Unlock()
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhook) received() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.bodies, "\n")
}

// heldRun is a run kept live by an account whose jobs never finish: one job
// runs, the others stay queued until cancelled.
type heldRun struct {
	cancel func()
	done   chan error
	stdout bytes.Buffer
	stderr lockedWriter
}

// startHeldRun starts a run of m into out with debug JSON logs and returns
// once its control socket listens and all rows are submitted.
func startHeldRun(t *testing.T, srv *loopbackSim, m, out string, rows int) *heldRun {
	t.Helper()
	o := batchOptions{manifest: m, format: "auto", out: out, model: defaultModel,
		apiBase: srv.APIURL, token: api.Token(testToken), concurrency: 8, dlConcurrency: 4,
		maxResends: 1, maxFileSize: 1 << 30, logFormat: "json", logLevel: "debug", progress: progress.Off,
		poll: runner.PollConfig{Initial: 5 * time.Millisecond, Min: 2 * time.Millisecond, Max: 20 * time.Millisecond}}
	ctx, cancel := context.WithCancel(context.Background())
	hr := &heldRun{cancel: cancel, done: make(chan error, 1)}
	live := make(chan struct{}, 1)
	allIn := make(chan struct{})
	var n atomic.Int64
	o.onLive = func(string) { live <- struct{}{} }
	o.hooks.Submitted = func(string, string) {
		if n.Add(1) == int64(rows) {
			close(allIn)
		}
	}
	go func() { hr.done <- runBatch(ctx, o, &hr.stdout, &hr.stderr) }()
	t.Cleanup(func() { hr.stop() })
	for _, ch := range []<-chan struct{}{live, allIn} {
		select {
		case <-ch:
		case err := <-hr.done:
			hr.done <- err
			t.Fatalf("run ended before it was live with every row submitted: %v\n%s", err, hr.stderr.String())
		}
	}
	return hr
}

// stop interrupts the run and waits for it; it is safe to call twice.
func (hr *heldRun) stop() error {
	hr.cancel()
	err := <-hr.done
	hr.done <- err
	return err
}

// lockedWriter is a buffer the run's goroutines may write at once.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestTokenNeverLeaks runs the commands with the most verbose logs through
// successes, faults and failures, and checks that neither the token nor the
// pre-signed result URLs end up in any output or file (the state file may
// keep the URLs), and that no file request carries the token.
func TestTokenNeverLeaks(t *testing.T) {
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), sixRows)

	t.Run("clean run, status, export, validate", func(t *testing.T) {
		srv := startLoopbackSim(t, sim.Config{VideoSize: 2 << 10})
		env := tokenEnv(srv.APIURL)
		out := filepath.Join(dir, "clean")
		code, stdout, stderr := invoke(t, env, runArgs(m, out, "--results-format", "csv")...)
		require.Equal(t, exitOK, code, stderr)
		require.Contains(t, stderr, `"level":"DEBUG"`, "debug JSON logs are on")
		ls := newLeakScan()
		ls.addSigs(t, srv)
		ls.all(t, "run", stdout, stderr, out)
		require.FileExists(t, filepath.Join(out, "results.csv"))
		require.True(t, slices.ContainsFunc(ls.urlSecrets, isSig), "the signatures looked for are the real ones")
		// A done job keeps no result URL in the state file either: they
		// are pre-signed and expire.
		st, err := store.Open(filepath.Join(out, ".pikabatch.db"), store.Options{ReadOnly: true})
		require.NoError(t, err)
		require.NoError(t, st.ForEach(t.Context(), func(j store.Job) error {
			for _, o := range j.Outputs {
				assert.Empty(t, o.URL, j.Key)
			}
			return nil
		}))
		require.NoError(t, st.Close())

		for _, args := range [][]string{
			{"status", "--out", out},
			{"status", "--out", out, "--json"},
			{"export", "--out", out},
			{"export", "--out", out, "--format", "csv"},
			{"export", "--out", out, "--format", "jsonl", "-o", filepath.Join(out, "export.jsonl")},
			{"export", "--out", out, "--format", "csv", "-o", filepath.Join(out, "export.csv")},
			{"validate", "--manifest", m},
			{"validate", "--manifest", m, "--json"},
		} {
			code, stdout, stderr := invoke(t, env, args...)
			assert.Equal(t, exitOK, code, "%v: %s", args, stderr)
			ls.all(t, strings.Join(args[:1], " "), stdout, stderr, out)
		}
		assert.FileExists(t, filepath.Join(out, "export.csv"))
		assert.Zero(t, srv.Counters().FileRequestsWithAuth)
	})

	t.Run("faults", func(t *testing.T) {
		srv := startLoopbackSim(t, sim.Config{VideoSize: 2 << 10, Seed: 7, Faults: sim.Faults{
			Rate429: 0.03, RetryAfter: time.Second, Rate5xx: 0.05, RateDrop: 0.03, RateLostResponse: 0.15,
			RateTruncate: 0.5, RateExpire: 1, RateFail: 0.15,
		}})
		hook := newWebhook(t)
		const hookSecret = "hook-path-secret-5f3a"
		out := filepath.Join(dir, "faults")
		code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL),
			runArgs(m, out, "--results-format", "csv", "--notify-url", hook.URL+"/services/"+hookSecret)...)
		assert.Contains(t, []int{exitOK, exitFailedRows, exitTempFail}, code, stderr)
		c := srv.Counters()
		t.Logf("exit %d; counters %+v", code, c)
		assert.Positive(t, c.DownloadsExpired, "every first result URL is expired")
		assert.Positive(t, c.RateLimited+c.ServerErrors+c.Dropped+c.LostResponses, "API faults were injected")
		assert.Zero(t, c.FileRequestsWithAuth)

		ls := newLeakScan()
		ls.secrets = append(ls.secrets, hookSecret) // a webhook URL is a credential too
		ls.addSigs(t, srv)
		ls.all(t, "run", stdout, stderr, out)
		require.NotEmpty(t, hook.received(), "the summary was posted")
		ls.text(t, "webhook body", hook.received())
		assert.Zero(t, hook.withAuth.Load(), "the webhook never gets the token")

		for _, args := range [][]string{
			{"status", "--out", out, "--json"},
			{"export", "--out", out, "--format", "jsonl"},
			{"export", "--out", out, "--format", "csv"},
		} {
			code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), args...)
			assert.Equal(t, exitOK, code, "%v: %s", args, stderr)
			ls.all(t, args[0], stdout, stderr, out)
		}
	})

	t.Run("insufficient credits", func(t *testing.T) {
		srv := startLoopbackSim(t, sim.Config{Faults: sim.Faults{Rate402: 1}})
		out := filepath.Join(dir, "402")
		code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), runArgs(m, out)...)
		assert.Equal(t, exitNoPerm, code, stderr)
		assert.Zero(t, srv.Counters().Submits)
		newLeakScan().all(t, "run", stdout, stderr, out)
	})

	t.Run("token rejected", func(t *testing.T) {
		srv := startLoopbackSim(t, sim.Config{Token: "the-account-token-is-another"})
		out := filepath.Join(dir, "401")
		code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), runArgs(m, out)...)
		assert.Equal(t, exitNoPerm, code, stderr)
		assert.Positive(t, srv.Counters().Unauthorized)
		assert.Zero(t, srv.Counters().Submits)
		newLeakScan().all(t, "run", stdout, stderr, out)
	})

	t.Run("cancel, status and export of a live run, then cancel offline", func(t *testing.T) {
		srv := startLoopbackSim(t, sim.Config{Slots: 1, RunTime: time.Hour})
		m3 := writeFile(t, filepath.Join(dir, "m3.csv"), sixRows[:strings.Index(sixRows, "r4,")])
		out := filepath.Join(dir, "held")
		hr := startHeldRun(t, srv, m3, out, 3)
		ls := newLeakScan()

		// While live, these go through the run's control socket: no token here.
		noToken := map[string]string{"RUNCOMFY_API_BASE": srv.APIURL, "RUNCOMFY_API_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": "", "RUNCOMFY_TOKEN": ""}
		for _, args := range [][]string{
			{"status", "--out", out},
			{"export", "--out", out, "--format", "csv"},
			{"cancel", "--out", out},
		} {
			code, stdout, stderr := invoke(t, noToken, args...)
			assert.Equal(t, exitOK, code, "%v: %s", args, stderr)
			ls.all(t, args[0]+" (live)", stdout, stderr)
		}
		assert.EqualValues(t, 2, srv.Counters().Cancelled, "one job runs, two were queued")
		require.ErrorIs(t, hr.stop(), context.Canceled)
		ls.all(t, "held run", hr.stdout.String(), hr.stderr.String(), out)

		// Offline, cancel asks the API itself, with the token from a file.
		tokFile := writeFile(t, filepath.Join(dir, "token"), testToken+"\n")
		fileEnv := map[string]string{"RUNCOMFY_API_BASE": srv.APIURL, "RUNCOMFY_API_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": tokFile}
		calls := srv.Counters().CancelCalls
		code, stdout, stderr := invoke(t, fileEnv, "cancel", "--out", out, "--key", "r1", "--key", "r2", "--key", "r3", "--json")
		assert.Equal(t, exitOK, code, "the running job is not cancelled, and the run collects it: %s", stderr)
		assert.Greater(t, srv.Counters().CancelCalls, calls, "the API was asked")
		ls.all(t, "cancel (offline)", stdout, stderr, out)
	})

	t.Run("help of every command", func(t *testing.T) {
		srv := startLoopbackSim(t, sim.Config{})
		ls := newLeakScan()
		for _, args := range [][]string{
			{"help"}, {"-h"}, {"--help"}, {"version"},
			{"run", "-h"}, {"validate", "-h"}, {"status", "-h"}, {"cancel", "-h"},
			{"export", "-h"}, {"demo", "-h"}, {"sim", "-h"}, {"bench", "-h"}, {"verify", "-h"},
			{"models", "-h"}, {"models", "show", "-h"}, {"balance", "-h"},
		} {
			code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), args...)
			assert.Equal(t, exitOK, code, "%v: %s", args, stderr)
			assert.NotEmpty(t, stdout+stderr, "%v prints something", args)
			ls.text(t, strings.Join(args, " "), stdout+stderr)
		}
		assert.Zero(t, srv.Counters().Requests, "help sends nothing")
	})

	// The balance lives on its own host (RunComfy's core API): the token
	// goes to the API and to that host, and nowhere else.
	t.Run("API and balance on two hosts", func(t *testing.T) {
		srv := startLoopbackSim(t, sim.Config{VideoSize: 2 << 10})
		bal := startLoopbackSim(t, sim.Config{BalanceUSD: 5})
		hook := newWebhook(t)
		env := tokenEnv(srv.APIURL)
		env["RUNCOMFY_BALANCE_BASE"] = bal.APIURL
		out := filepath.Join(dir, "two-hosts")
		code, stdout, stderr := invoke(t, env, runArgs(m, out, "--max-cost", "1", "--require-balance", "--notify-url", hook.URL)...)
		require.Equal(t, exitOK, code, stderr)
		ls := newLeakScan()
		ls.addSigs(t, srv)
		ls.all(t, "run", stdout, stderr, out)
		for _, args := range [][]string{
			{"models"}, {"models", "--json"}, {"models", "show", defaultModel}, {"models", "show", defaultModel, "--json"},
			{"balance"}, {"balance", "--json"},
			{"validate", "--manifest", m, "--catalog"}, {"run", "--manifest", m, "--out", out, "--dry-run", "--catalog"},
		} {
			code, stdout, stderr := invoke(t, env, args...)
			assert.Equal(t, exitOK, code, "%v: %s", args, stderr)
			ls.all(t, strings.Join(args, " "), stdout, stderr)
		}
		api, other := srv.Counters(), bal.Counters()
		assert.Positive(t, api.CatalogCalls, "the catalog is the API's")
		assert.Zero(t, api.BalanceCalls, "the balance is not asked of the API's host")
		assert.EqualValues(t, 3, other.BalanceCalls, "run and balance twice asked the balance host")
		assert.Zero(t, other.Requests+other.CatalogCalls+other.Unauthorized, "and nothing else")
		assert.Zero(t, api.FileRequestsWithAuth)
		assert.Zero(t, hook.withAuth.Load())
		ls.text(t, "webhook body", hook.received())
	})

	// The API client refuses redirects to another origin (runner/api
	// TestRedirects and TestTokenNeverLeaks cover that); here a result file's
	// storage host redirects the download to a second host, which must not
	// see the token either.
	t.Run("download redirected to another host", func(t *testing.T) {
		srv := startLoopbackSim(t, sim.Config{VideoSize: 2 << 10})
		var hits, withAuth atomic.Int64
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			if _, ok := r.Header["Authorization"]; ok {
				withAuth.Add(1)
			}
			http.Redirect(w, r, srv.FilesURL+r.URL.RequestURI(), http.StatusFound)
		}))
		t.Cleanup(redirector.Close)
		srv.SetFilesBase(redirector.URL)

		out := filepath.Join(dir, "redirect")
		code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL), runArgs(m, out)...)
		require.Equal(t, exitOK, code, stderr)
		assert.GreaterOrEqual(t, hits.Load(), int64(6), "every download went through the redirect")
		assert.EqualValues(t, 6, srv.Counters().Downloads)
		assert.Zero(t, withAuth.Load(), "the first file host never gets the token")
		assert.Zero(t, srv.Counters().FileRequestsWithAuth, "nor the host it redirects to")
		ls := newLeakScan()
		ls.addSigs(t, srv)
		ls.all(t, "run", stdout, stderr, out)
	})
}
