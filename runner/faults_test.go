package runner_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/internal/clocktest"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// Each test here injects one fault a careful client must survive (the
// simulator's Faults, or all of them) and asserts
// what the user finds afterwards: the store, the files and the summary.

// wrapped is a setup whose API and storage host sit behind test middleware.
type wrapped struct {
	*env
	api, files *switchHandler
	filesURL   string
}

// switchHandler serves through a handler that a test may replace mid-test.
type switchHandler struct{ h atomic.Pointer[http.Handler] }

func (s *switchHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *switchHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// setupWrapped is setup with the simulator's handlers behind switchHandlers,
// so that a test can wrap them or swap the whole simulator.
func setupWrapped(t *testing.T, n int, cfg sim.Config) *wrapped {
	t.Helper()
	srv := newSim(t, cfg)
	w := &wrapped{api: &switchHandler{}, files: &switchHandler{}}
	w.api.set(srv.APIHandler())
	w.files.set(srv.FilesHandler())
	apiTS := httptest.NewServer(w.api)
	filesTS := httptest.NewServer(w.files)
	srv.SetFilesBase(filesTS.URL)
	w.filesURL = filesTS.URL
	t.Cleanup(func() {
		apiTS.CloseClientConnections()
		filesTS.CloseClientConnections()
		apiTS.Close()
		filesTS.Close()
	})
	dir := t.TempDir()
	w.env = &env{t: t, sim: srv, apiURL: apiTS.URL, out: filepath.Join(dir, "out"),
		manifest: filepath.Join(dir, "manifest.csv"), token: srv.Token()}
	w.writeManifest(n, nil)
	return w
}

// newSim is a simulator with setup's defaults.
func newSim(t *testing.T, cfg sim.Config) *sim.Server {
	t.Helper()
	if cfg.Slots == 0 {
		cfg.Slots = 16
	}
	if cfg.RunTime == 0 {
		cfg.RunTime = 20 * time.Millisecond
	}
	if cfg.VideoSize == 0 {
		cfg.VideoSize = 8 << 10
	}
	if cfg.Seed == 0 {
		cfg.Seed = 7
	}
	srv, err := sim.New(cfg)
	require.NoError(t, err)
	return srv
}

// runClient is runOnce with a say over the API client, which it returns
// so that tests can read its call counts.
func (e *env) runClient(ctx context.Context, tweakAPI func(*api.Config), tweak func(*runner.Config)) (runner.Summary, *api.Client, error) {
	e.t.Helper()
	client := e.client(tweakAPI)
	defer client.CloseIdleConnections()
	sum, err := e.runWith(ctx, client, e.simConfig(tweak))
	return sum, client, err
}

// tally counts what a handler answered, by endpoint.
type tally struct {
	mu sync.Mutex
	n  map[string]int // "endpoint outcome" → count
}

// endpoint names the API call or file request r is.
func endpoint(r *http.Request) string {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/v1/models/"):
		return "submit"
	case strings.HasSuffix(p, "/status"):
		return "status"
	case strings.HasSuffix(p, "/result"):
		return "result"
	case strings.HasSuffix(p, "/cancel"):
		return "cancel"
	case strings.HasPrefix(p, "/files/"):
		if r.Header.Get("Range") != "" {
			return "file-range"
		}
		return "file"
	}
	return "other"
}

func (tl *tally) add(key string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.n == nil {
		tl.n = map[string]int{}
	}
	tl.n[key]++
}

func (tl *tally) get(key string) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.n[key]
}

func (tl *tally) snapshot() map[string]int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := make(map[string]int, len(tl.n))
	for k, v := range tl.n {
		n[k] = v
	}
	return n
}

// wrap records, per endpoint, every answer's class (2xx, 206, 4xx, 429,
// 5xx) before the client can see it, and the connections dropped without
// an answer.
func (tl *tally) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep := endpoint(r)
		rec := &recorder{ResponseWriter: w, record: func(code int) {
			switch code {
			case http.StatusPartialContent, http.StatusTooManyRequests:
				tl.add(ep + " " + http.StatusText(code))
			default:
				tl.add(ep + " " + string("012345"[code/100]) + "xx")
			}
		}}
		h.ServeHTTP(rec, r)
		if !rec.wrote {
			tl.add(ep + " drop")
		}
	})
}

// recorder reports the status code as it is written; Unwrap lets
// http.ResponseController reach the connection, so that the simulator can
// still drop it.
type recorder struct {
	http.ResponseWriter
	record func(code int)
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.wrote = true
		r.record(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func TestRateLimitStormSlowsDownAndFinishes(t *testing.T) {
	t.Parallel()
	const rows = 150
	e := setup(t, rows, sim.Config{Seed: 21, Faults: sim.Faults{Rate429: 0.4, RetryAfter: time.Second}})
	// The ceiling is high so that the floor (a twentieth) keeps the test fast.
	lim := rate.NewLimiter(4000, 64)
	sum, client, err := e.runClient(t.Context(), func(c *api.Config) { c.Limiter = lim }, nil)
	require.NoError(t, err, "summary %+v", sum)
	e.assertAllDownloaded(rows)
	assert.Zero(t, sum.Failed, "a 429 never fails a job")

	c := e.sim.Counters()
	calls := client.Calls()
	t.Logf("429s %d, slowdowns %d, final rate %.0f/s, account limit seen %d", c.RateLimited, calls.Slowdowns, float64(lim.Limit()), sum.AccountJobs)
	assert.Positive(t, c.RateLimited)
	assert.Equal(t, c.RateLimited, calls.RateLimited)
	assert.Positive(t, calls.Slowdowns, "429s slowed the shared limiter down")
	// The first slowdown ends the burst, later ones (a second apart) cut
	// the rate: a storm that ends within a second does only the first.
	assert.Equal(t, 1, lim.Burst(), "the burst ended")
	if calls.Slowdowns > 1 {
		assert.Less(t, float64(lim.Limit()), 4000.0)
	}
	assert.EqualValues(t, rows, c.Submits, "a 429 creates no job")
	assert.Zero(t, c.DuplicateSubmits)
}

func TestAccountLimitHoldsSubmits(t *testing.T) {
	t.Parallel()
	const rows, account = 60, 4
	// The account takes 4 jobs at once (2 running, 2 queued) and answers
	// 429 above that; the run asks for 16. The simulator's clock stands
	// still until a submit is refused a second time, so that no job can
	// finish between its two refusals: on the wall clock a loaded machine
	// let one finish there, the re-send went through, and the run never
	// learned the limit (AccountJobs 0).
	clock := clocktest.New(time.Now())
	e := setup(t, rows, sim.Config{Seed: 3, Slots: 2, MaxConcurrentSubmits: account, RunTime: 10 * time.Millisecond,
		Now: clock.Now})
	lim := rate.NewLimiter(4000, 64)
	client := e.client(func(c *api.Config) { c.Limiter = lim })
	defer client.CloseIdleConnections()
	full := &fullAccount{API: client, account: account, filled: make(chan struct{}), start: clock.Start}
	sum, err := e.runWith(t.Context(), full, e.simConfig(func(c *runner.Config) {
		c.Concurrency = 16
		c.Hooks.Submitted = full.submitted
	}))
	require.NoError(t, err, "summary %+v", sum)
	e.assertAllDownloaded(rows)

	c := e.sim.Counters()
	calls := client.Calls()
	t.Logf("account limit learned %d; 429s %d (%.2f per job), slowdowns %d", sum.AccountJobs, c.RateLimited,
		float64(c.RateLimited)/rows, calls.Slowdowns)
	assert.EqualValues(t, rows, c.Submits, "a 429 creates no job")
	assert.Zero(t, c.DuplicateSubmits)
	// What the run saw of the account: near its limit (a job that finished
	// unseen still counts, one accepted but not yet recorded does not yet)
	// and well below --concurrency.
	assert.Positive(t, sum.AccountJobs)
	assert.Less(t, sum.AccountJobs, 16)
	// Held submits wait for a finish instead of knocking: a knocking run
	// (each refused submit retried at once, as this test's client does
	// without a hold) is refused many times per job.
	assert.Less(t, c.RateLimited, int64(rows), "fewer refusals than jobs")
}

func TestServerErrorsAndDropsOnEveryEndpoint(t *testing.T) {
	t.Parallel()
	const rows = 150
	// Few slots, so that many jobs wait in the queue and are polled with
	// status: enough calls that each endpoint meets each fault.
	e := setupWrapped(t, rows, sim.Config{Seed: 5, Slots: 2, Faults: sim.Faults{Rate5xx: 0.15, RateDrop: 0.08}})
	var seen tally
	// Most looks are result calls made when a job should be done, so the
	// random faults may miss the few status calls: the first two meet one
	// fault each, whatever the poll schedule.
	var statusCalls atomic.Int32
	simAPI := e.sim.APIHandler()
	e.api.set(seen.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if endpoint(r) == "status" {
			switch statusCalls.Add(1) {
			case 1:
				http.Error(w, "bad gateway", http.StatusBadGateway)
				return
			case 2:
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
		}
		simAPI.ServeHTTP(w, r)
	})))
	// The storage host fails too: the first request for every file answers 503.
	var tried sync.Map
	files := e.sim.FilesHandler()
	e.files.set(seen.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, again := tried.LoadOrStore(r.URL.Path, true); !again {
			http.Error(w, "slow down", http.StatusServiceUnavailable)
			return
		}
		files.ServeHTTP(w, r)
	})))

	// A dropped or 5xx submit is uncertain (a gateway may have given up
	// after the API created the job): re-sent under the
	// default policy, more than once if its re-send fails too; about one
	// submit in four does, so eight re-sends keep "held" vanishingly rare.
	sum, _, err := e.runClient(t.Context(), nil, func(c *runner.Config) { c.MaxResends = 8 })
	require.NoError(t, err, "summary %+v", sum)
	e.assertAllDownloaded(rows)
	t.Logf("answers by endpoint: %v", seen.snapshot())
	for _, ep := range []string{"submit", "status", "result"} {
		assert.Positive(t, seen.get(ep+" 5xx"), "%s saw a 5xx", ep)
		assert.Positive(t, seen.get(ep+" drop"), "%s saw a dropped connection", ep)
	}
	assert.Equal(t, rows, seen.get("file 5xx"))
	assert.GreaterOrEqual(t, sum.DownloadRetries, rows)

	c := e.sim.Counters()
	assert.EqualValues(t, rows, c.Submits, "a dropped or failed submit creates no job")
	assert.Zero(t, c.DuplicateSubmits)
	// A 5xx on submit may come from a gateway that gave up after the job
	// was created: uncertain, like a dropped connection.
	assert.Equal(t, seen.get("submit drop")+seen.get("submit 5xx"), sum.Uncertain, "each dropped or 5xx submit is counted as uncertain")
	assert.Equal(t, sum.Uncertain, sum.Resent)
}

func TestLostResponsesAreCountedUnderBothPolicies(t *testing.T) {
	t.Parallel()
	const rows = 60
	faults := sim.Faults{RateLostResponse: 0.3}
	t.Run("re-send once", func(t *testing.T) {
		t.Parallel()
		e := setup(t, rows, sim.Config{Seed: 17, Faults: faults})
		sum, _, err := e.runClient(t.Context(), nil, nil)
		c := e.sim.Counters()
		t.Logf("lost %d, summary uncertain %d, re-sent %d, held %d", c.LostResponses, sum.Uncertain, sum.Resent, sum.Held)
		require.Positive(t, c.LostResponses)
		// Each lost answer is counted; each row whose first answer was lost
		// is re-sent once; a row whose re-send was lost too is held.
		assert.EqualValues(t, c.LostResponses, sum.Uncertain)
		assert.EqualValues(t, c.LostResponses, sum.Resent+sum.Held)
		assert.EqualValues(t, rows+sum.Resent, c.Submits)
		assert.EqualValues(t, sum.Resent, c.DuplicateSubmits, "each re-send is one possible duplicate charge, and reported")
		if sum.Held > 0 {
			require.ErrorIs(t, err, runner.ErrHeld)
		} else {
			require.NoError(t, err)
		}
		states := countStates(e.jobs())
		assert.Equal(t, sum.Held, states[store.StateUncertain])
		assert.Equal(t, rows-sum.Held, states[store.StateDone])
	})
	t.Run("hold", func(t *testing.T) {
		t.Parallel()
		e := setup(t, rows, sim.Config{Seed: 17, Faults: faults})
		sum, _, err := e.runClient(t.Context(), nil, func(c *runner.Config) { c.HoldUncertain = true })
		require.ErrorIs(t, err, runner.ErrHeld)
		c := e.sim.Counters()
		assert.EqualValues(t, c.LostResponses, sum.Uncertain)
		assert.EqualValues(t, sum.Uncertain, sum.Held)
		assert.Zero(t, sum.Resent)
		assert.EqualValues(t, rows, c.Submits)
		assert.Zero(t, c.DuplicateSubmits)
		states := countStates(e.jobs())
		assert.Equal(t, sum.Held, states[store.StateUncertain])
		assert.Equal(t, rows-sum.Held, states[store.StateDone])
	})
}

func countStates(jobs map[string]store.Job) map[store.State]int {
	n := map[store.State]int{}
	for _, j := range jobs {
		n[j.State]++
	}
	return n
}

func TestTruncatedDownloads(t *testing.T) {
	t.Parallel()
	const rows = 30
	t.Run("resumed with Range", func(t *testing.T) {
		t.Parallel()
		e := setupWrapped(t, rows, sim.Config{Faults: sim.Faults{RateTruncate: 1}})
		var seen tally
		e.files.set(seen.wrap(e.sim.FilesHandler()))
		sum, _, err := e.runClient(t.Context(), nil, nil)
		require.NoError(t, err)
		e.assertAllDownloaded(rows)
		c := e.sim.Counters()
		assert.EqualValues(t, rows, c.DownloadsTruncated)
		assert.Equal(t, rows, seen.get("file-range Partial Content"), "each cut-off file is resumed where it stopped")
		assert.Zero(t, seen.get("file-range 2xx"))
		assert.Equal(t, rows, sum.DownloadRetries)
		for _, j := range e.sim.Jobs() {
			assert.Equal(t, 2, j.Downloads, "one cut-off download and one resume for %s", j.RequestID)
		}
	})
	t.Run("restarted when the host ignores Range", func(t *testing.T) {
		t.Parallel()
		e := setupWrapped(t, rows, sim.Config{Faults: sim.Faults{RateTruncate: 1}})
		var seen tally
		files := e.sim.FilesHandler()
		e.files.set(seen.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Range")
			files.ServeHTTP(w, r)
		})))
		_, _, err := e.runClient(t.Context(), nil, nil)
		require.NoError(t, err)
		e.assertAllDownloaded(rows)
		assert.Equal(t, 2*rows, seen.get("file-range 2xx")+seen.get("file 2xx"))
		assert.Zero(t, seen.get("file-range Partial Content"))
	})
}

func TestExpiredResultURLsAreRefreshed(t *testing.T) {
	t.Parallel()
	const rows = 30
	e := setup(t, rows, sim.Config{Faults: sim.Faults{RateExpire: 1}})
	sum, _, err := e.runClient(t.Context(), nil, nil)
	require.NoError(t, err)
	e.assertAllDownloaded(rows)
	assert.Equal(t, rows, sum.URLRefreshes)
	assert.EqualValues(t, rows, e.sim.Counters().DownloadsExpired)
}

func TestFailedGenerationsKeepTheAPIMessage(t *testing.T) {
	t.Parallel()
	const rows = 40
	e := setup(t, rows, sim.Config{Seed: 9, Faults: sim.Faults{RateFail: 0.4}})
	sum, _, err := e.runClient(t.Context(), nil, nil)
	require.ErrorIs(t, err, runner.ErrFailedRows)
	simErr := map[string]string{}
	for _, j := range e.sim.Jobs() {
		simErr[j.RequestID] = j.Error
	}
	failed := 0
	for key, j := range e.jobs() {
		if j.State != store.StateFailed {
			require.Equal(t, store.StateDone, j.State, key)
			continue
		}
		failed++
		require.NotEmpty(t, simErr[j.RequestID])
		assert.Equal(t, simErr[j.RequestID], j.LastError, "row %s keeps the API's own message", key)
	}
	require.Positive(t, failed)
	assert.Equal(t, sum.Failed, failed)
	for reason := range sum.FailReasons {
		assert.Contains(t, reason, "generation failed", "the summary groups failures by the API's message")
	}

	// --retry-failed sends exactly those rows again.
	before := e.sim.Counters().Submits
	sum2, _, _ := e.runClient(t.Context(), nil, func(c *runner.Config) { c.RetryFailed = true })
	assert.Equal(t, failed, sum2.Submitted)
	assert.EqualValues(t, before+int64(failed), e.sim.Counters().Submits)
}

func TestAccountRefusals(t *testing.T) {
	t.Parallel()
	const rows = 60
	refuse := func(code int, msg string, paths ...string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, p := range paths {
					if endpoint(r) == p {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(code)
						_, _ = w.Write([]byte(`{"error_message":"` + msg + `"}`))
						return
					}
				}
				h.ServeHTTP(w, r)
			})
		}
	}
	t.Run("403 on submit stops at once", func(t *testing.T) {
		t.Parallel()
		e := setupWrapped(t, rows, sim.Config{})
		var seen tally
		e.api.set(seen.wrap(refuse(http.StatusForbidden, "token revoked", "submit")(e.sim.APIHandler())))
		sum, _, err := e.runClient(t.Context(), nil, nil)
		require.ErrorIs(t, err, api.ErrUnauthorized)
		assert.Contains(t, err.Error(), "token revoked", "the API's own message")
		assert.Zero(t, sum.Submitted)
		assert.Zero(t, e.sim.Counters().Submits)
		assert.LessOrEqual(t, seen.get("submit 4xx"), 32, "no more than the submits already in flight")
		for key, j := range e.jobs() {
			assert.Equal(t, store.StatePending, j.State, "row %s: a refused submit created no job", key)
		}
	})
	t.Run("403 while polling stops at once", func(t *testing.T) {
		t.Parallel()
		e := setupWrapped(t, rows, sim.Config{})
		e.api.set(refuse(http.StatusForbidden, "token revoked", "status", "result")(e.sim.APIHandler()))
		_, _, err := e.runClient(t.Context(), nil, nil)
		require.ErrorIs(t, err, api.ErrUnauthorized)
		for key, j := range e.jobs() {
			assert.NotEqual(t, store.StateSubmitting, j.State, key)
			if j.RequestID != "" {
				assert.Contains(t, []store.State{store.StateSubmitted, store.StateQueued, store.StateRunning}, j.State,
					"row %s stays in flight, to be collected with a good token", key)
			}
		}
	})
	t.Run("402 stops new submits and collects the jobs in flight", func(t *testing.T) {
		t.Parallel()
		e := setup(t, rows, sim.Config{Seed: 3, Faults: sim.Faults{Rate402: 0.1}})
		sum, _, err := e.runClient(t.Context(), nil, func(c *runner.Config) { c.Concurrency = 8 })
		require.ErrorIs(t, err, runner.ErrSubmitsStopped)
		require.ErrorIs(t, err, api.ErrPaymentRequired)
		assert.Contains(t, err.Error(), "insufficient credits")
		c := e.sim.Counters()
		require.Positive(t, c.Submits)
		states := countStates(e.jobs())
		assert.EqualValues(t, c.Submits, states[store.StateDone], "every job created before the refusal is collected")
		assert.Zero(t, states[store.StateSubmitting]+states[store.StateUncertain])
		assert.Equal(t, rows-int(c.Submits), sum.NotSubmitted, "every other row is reported not submitted")
		t.Logf("stopped after %d submits; %d rows not submitted", c.Submits, sum.NotSubmitted)
	})
}

func TestForgottenRequestIDsExpire(t *testing.T) {
	t.Parallel()
	const rows = 40
	e := setupWrapped(t, rows, sim.Config{RunTime: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var submitted atomic.Int64
	_, _, err := e.runClient(ctx, nil, func(c *runner.Config) {
		c.Hooks.Submitted = func(string, string) {
			if submitted.Add(1) == 20 {
				cancel()
			}
		}
	})
	require.ErrorIs(t, err, context.Canceled)

	// Weeks later: the API has forgotten every request ID. (Another seed,
	// so that its new request IDs are not the old ones.)
	fresh := newSim(t, sim.Config{Token: e.token, Seed: 8})
	fresh.SetFilesBase(e.filesURL)
	var seen tally
	e.api.set(seen.wrap(fresh.APIHandler()))
	e.files.set(fresh.FilesHandler())
	e.sim = fresh
	// Count what the runner sends, above net/http's transport: that may
	// itself resend an idempotent GET on a reused connection, which the
	// server would count twice.
	var sent pathCounter
	sum, _, err := e.runClient(t.Context(), func(c *api.Config) {
		c.HTTPClient = &http.Client{Transport: sent.wrap(http.DefaultTransport.(*http.Transport).Clone())}
	}, nil)
	require.ErrorIs(t, err, runner.ErrFailedRows)
	expired := 0
	for key, j := range e.jobs() {
		if j.State != store.StateExpired {
			require.Equal(t, store.StateDone, j.State, key)
			continue
		}
		expired++
		assert.Contains(t, j.LastError, "render is lost", "row %s says what happened", key)
	}
	assert.EqualValues(t, submitted.Load(), expired)
	assert.Equal(t, expired, sum.FailReasons["request expired"])
	assert.GreaterOrEqual(t, seen.get("status 4xx")+seen.get("result 4xx"), expired, "every forgotten ID was answered 404")
	for key, j := range e.jobs() {
		if j.State == store.StateExpired {
			assert.Equal(t, 1, sent.polls(j.RequestID), "%s: one look at a forgotten ID: not retried, not polled again", key)
		}
	}
}

// pathCounter counts the requests a client sends, by path.
type pathCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (pc *pathCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		pc.mu.Lock()
		if pc.n == nil {
			pc.n = map[string]int{}
		}
		pc.n[r.URL.Path]++
		pc.mu.Unlock()
		return next.RoundTrip(r)
	})
}

// polls is how many status and result requests were sent for id.
func (pc *pathCounter) polls(id string) int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.n["/v1/requests/"+id+"/status"] + pc.n["/v1/requests/"+id+"/result"]
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestAllFaultsAtOnce(t *testing.T) {
	t.Parallel()
	const rows = 500
	e := setup(t, rows, sim.Config{Seed: 2026, RunJitter: 0.3, Faults: sim.Faults{
		Rate429: 0.05, RetryAfter: time.Second, Rate5xx: 0.05, RateDrop: 0.03, RateLostResponse: 0.03,
		RateTruncate: 0.2, RateFail: 0.05, RateExpire: 0.1, RateNeverFinish: 0.01,
	}})
	lim := rate.NewLimiter(4000, 64)
	sum, _, err := e.runClient(t.Context(), func(c *api.Config) { c.Limiter = lim }, func(c *runner.Config) {
		// A submit can be dropped or lose its answer several times in a
		// row here; a generous re-send budget lets every row settle (the
		// policy's books are TestLostResponsesAreCountedUnderBothPolicies').
		c.MaxResends = 10
		c.JobTimeout = time.Second // jobs that never finish are given up on
	})
	require.ErrorIs(t, err, runner.ErrFailedRows, "summary %+v", sum)
	t.Logf("summary: %+v", sum)

	info := map[string]sim.JobInfo{}
	for _, j := range e.sim.Jobs() {
		info[j.RequestID] = j
	}
	states := map[store.State]int{}
	for key, j := range e.jobs() {
		states[j.State]++
		switch j.State {
		case store.StateDone:
			got, err := os.ReadFile(filepath.Join(e.out, j.Outputs[0].Path))
			require.NoError(t, err)
			want, ok := e.sim.Video(j.RequestID, 0)
			require.True(t, ok)
			require.Equal(t, want, got, "row %s downloaded correctly", key)
		case store.StateFailed:
			assert.Equal(t, info[j.RequestID].Error, j.LastError, "row %s failed with the API's message", key)
		case store.StateTimedOut:
			assert.True(t, info[j.RequestID].IsStuck, "row %s timed out only because its job never finishes", key)
		default:
			t.Errorf("row %s ended %s: %s", key, j.State, j.LastError)
		}
	}
	t.Logf("final states: %v", states)
	assert.Equal(t, sum.Final[store.StateDone], states[store.StateDone])
	assert.Positive(t, states[store.StateFailed])
	assert.Positive(t, states[store.StateTimedOut])

	c := e.sim.Counters()
	assert.EqualValues(t, rows+c.DuplicateSubmits, c.Submits, "every extra job is a re-sent lost answer")
	assert.LessOrEqual(t, int(c.DuplicateSubmits), sum.Resent, "and the summary says so")
	assert.Zero(t, c.FileRequestsWithAuth)
	assertNoPartFiles(t, e.out)
}

// fullAccount is an API whose submits beyond the account's first jobs wait
// until those are recorded (so that each refusal finds jobs of ours on the
// account), and which calls start at a submit's second refusal.
type fullAccount struct {
	runner.API
	account  int
	recorded atomic.Int32
	filled   chan struct{} // closed once account jobs are recorded
	sent     atomic.Int32
	start    func()
	once     sync.Once
}

func (f *fullAccount) submitted(string, string) {
	if int(f.recorded.Add(1)) == f.account {
		close(f.filled)
	}
}

func (f *fullAccount) Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error) {
	if int(f.sent.Add(1)) > f.account {
		select {
		case <-f.filled:
		case <-ctx.Done():
			return api.SubmitResponse{}, ctx.Err()
		}
	}
	hold, refusals := opts.Hold, 0
	opts.Hold = func(ctx context.Context, r api.Refusal) (api.HoldDecision, error) {
		if refusals++; refusals == 2 {
			f.once.Do(f.start)
		}
		return hold(ctx, r)
	}
	return f.API.Submit(ctx, model, input, opts)
}
