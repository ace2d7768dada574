package runner_test

import (
	"bytes"
	"context"
	"fmt"
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

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/runner/verify"
	"github.com/pikabatch/pikabatch/store"
)

// Tests of what a run leaves in its output folder when the folder, the
// storage host or the keys are hostile.

// runAPI runs the manifest once against the simulator, like one
// `pikabatch run`, with the API client wrapped (when wrap is not nil) so
// that a test can change what the API answers.
func (e *env) runAPI(ctx context.Context, wrap func(runner.API) runner.API, tweak func(*runner.Config)) (runner.Summary, error) {
	e.t.Helper()
	client := e.client(nil)
	defer client.CloseIdleConnections()
	var a runner.API = client
	if wrap != nil {
		a = wrap(client)
	}
	return e.runWith(ctx, a, e.simConfig(tweak))
}

// client is the API client for the simulator. Retry-After from the
// simulator is whole seconds; the client keeps the decision (wait, then
// retry) and drops the waiting.
func (e *env) client(tweak func(*api.Config)) *api.Client {
	e.t.Helper()
	cfg := api.Config{
		BaseURL: e.apiURL, Token: api.Token(e.token),
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() },
	}
	if tweak != nil {
		tweak(&cfg)
	}
	client, err := api.New(cfg)
	require.NoError(e.t, err)
	return client
}

// simConfig is the runner's configuration for runs against the simulator.
func (e *env) simConfig(tweak func(*runner.Config)) runner.Config {
	cfg := runner.Config{
		Model: "pika/pika-2-2/image-to-video", OutDir: e.out, Concurrency: 32, DownloadConcurrency: 8,
		Poll:     runner.PollConfig{Initial: 5 * time.Millisecond, Min: 2 * time.Millisecond, Max: 50 * time.Millisecond},
		Download: runner.DownloadConfig{BackoffBase: time.Millisecond},
		Logger:   testLogger(e.t),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	return cfg
}

// runWith opens the store and runs the manifest once with client and cfg,
// like one `pikabatch run`.
func (e *env) runWith(ctx context.Context, client runner.API, cfg runner.Config) (runner.Summary, error) {
	e.t.Helper()
	require.NoError(e.t, os.MkdirAll(e.out, 0o755))
	st, err := store.Open(filepath.Join(e.out, ".pikabatch.db"), store.Options{})
	require.NoError(e.t, err)
	defer st.Close()
	r, err := runner.New(cfg, client, st)
	require.NoError(e.t, err)
	rows, err := manifest.Open(e.manifest, manifest.FormatAuto)
	require.NoError(e.t, err)
	defer rows.Close()
	if e.rows != nil {
		return r.Run(ctx, e.rows(rows))
	}
	return r.Run(ctx, rows)
}

// verifyAll runs `pikabatch verify`'s check over the state file.
func (e *env) verifyAll() verify.Report {
	e.t.Helper()
	st, err := store.Open(filepath.Join(e.out, ".pikabatch.db"), store.Options{})
	require.NoError(e.t, err)
	defer st.Close()
	rep, err := verify.Check(e.t.Context(), e.out, func(ctx context.Context, fn func(results.Entry) error) error {
		return st.ForEach(ctx, func(j store.Job) error { return fn(results.NewEntry(j)) })
	}, verify.Options{})
	require.NoError(e.t, err)
	return rep
}

// doubleOutput makes the API list the result file twice (the second time
// with an extra query parameter, so the URLs differ) for the rows whose
// image URL ends in one of suffixes: a job with two outputs.
type doubleOutput struct {
	runner.API
	suffixes []string
	ids      sync.Map // request ID → true
}

func (d *doubleOutput) Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error) {
	resp, err := d.API.Submit(ctx, model, input, opts)
	body := fmt.Sprintf("%s", input)
	for _, s := range d.suffixes {
		if err == nil && strings.Contains(body, s+`"`) {
			d.ids.Store(resp.RequestID, true)
		}
	}
	return resp, err
}

func (d *doubleOutput) Result(ctx context.Context, id string) (api.Result, error) {
	res, err := d.API.Result(ctx, id)
	if _, ok := d.ids.Load(id); ok && err == nil && len(res.Outputs) == 1 {
		res.Outputs = append(res.Outputs, res.Outputs[0]+"&copy=2")
	}
	return res, err
}

// TestOutputNamesNeverCollide: a job "m" with two outputs and a row "m-1"
// wrote m-1.mp4 both, and one video was lost while both rows were done.
func TestOutputNamesNeverCollide(t *testing.T) {
	t.Parallel()
	e := setup(t, 2, sim.Config{})
	e.writeManifest(2, func(i int, rec []string) { rec[0] = []string{"m", "m-1"}[i] })
	_, err := e.runAPI(t.Context(), func(a runner.API) runner.API {
		return &doubleOutput{API: a, suffixes: []string{"/0.jpg"}}
	}, nil)
	require.NoError(t, err)

	jobs := e.jobs()
	require.Len(t, jobs["m"].Outputs, 2)
	require.Len(t, jobs["m-1"].Outputs, 1)
	paths := map[string]string{}
	for key, j := range jobs {
		require.Equal(t, store.StateDone, j.State, key)
		for _, o := range j.Outputs {
			prev, taken := paths[strings.ToLower(o.Path)]
			require.False(t, taken, "%s and %s share %s", prev, key, o.Path)
			paths[strings.ToLower(o.Path)] = key
		}
	}
	assert.Equal(t, "m+1.mp4", jobs["m"].Outputs[0].Path)
	assert.Equal(t, "m+2.mp4", jobs["m"].Outputs[1].Path)
	assert.Equal(t, "m-1.mp4", jobs["m-1"].Outputs[0].Path)
	for key, j := range jobs {
		want, _ := e.sim.Video(j.RequestID, 0)
		for _, o := range j.Outputs {
			got, err := os.ReadFile(filepath.Join(e.out, o.Path))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(want, got), "%s of %s is that job's video", o.Path, key)
		}
	}
	rep := e.verifyAll()
	assert.Equal(t, 3, rep.Files)
	assert.Equal(t, 3, rep.OK, "findings %+v", rep.Findings)
}

// TestOutputNamesIgnoreCase: a manifest edited from "Dup" to "dup" keeps
// the old job (an orphan) and adds a new one; on a file system that
// ignores case both must not share a file.
func TestOutputNamesIgnoreCase(t *testing.T) {
	t.Parallel()
	e := setup(t, 1, sim.Config{})
	e.writeManifest(1, func(_ int, rec []string) { rec[0] = "Dup" })
	_, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	e.writeManifest(1, func(_ int, rec []string) { rec[0], rec[2] = "dup", "another prompt" })
	_, err = e.runOnce(t.Context(), nil)
	require.NoError(t, err)

	jobs := e.jobs()
	require.Len(t, jobs, 2)
	upper, lower := jobs["Dup"].Outputs[0].Path, jobs["dup"].Outputs[0].Path
	assert.Equal(t, "dup.mp4", lower)
	assert.NotEqual(t, strings.ToLower(upper), strings.ToLower(lower), "Dup's file %s and dup's %s", upper, lower)
	rep := e.verifyAll()
	assert.Equal(t, 2, rep.OK, "findings %+v", rep.Findings)
}

// TestOlderFoldersKeepTheirNames: a folder written by an older pikabatch
// recorded "m-1.mp4" as the first of m's two outputs. Its record keeps
// that name, nothing is downloaded again, and a new row "m-1" gets a name
// of its own instead of overwriting m's video.
func TestOlderFoldersKeepTheirNames(t *testing.T) {
	t.Parallel()
	e := setup(t, 1, sim.Config{})
	e.writeManifest(1, func(_ int, rec []string) { rec[0] = "m" })
	_, err := e.runAPI(t.Context(), func(a runner.API) runner.API {
		return &doubleOutput{API: a, suffixes: []string{"/0.jpg"}}
	}, nil)
	require.NoError(t, err)

	// Rename m's files as the older pikabatch named them.
	st, err := store.Open(filepath.Join(e.out, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	_, err = st.Update(t.Context(), "m", func(j *store.Job) error {
		for i := range j.Outputs {
			old := fmt.Sprintf("m-%d.mp4", i+1)
			require.NoError(t, os.Rename(filepath.Join(e.out, j.Outputs[i].Path), filepath.Join(e.out, old)))
			j.Outputs[i].Path = old
		}
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	mVideo, err := os.ReadFile(filepath.Join(e.out, "m-1.mp4"))
	require.NoError(t, err)

	// And a part file of the new row, as an older pikabatch named it.
	require.NoError(t, os.WriteFile(filepath.Join(e.out, ".pikabatch-m-1-0.part"), []byte("stale"), 0o644))

	e.writeManifest(2, func(i int, rec []string) { rec[0] = []string{"m", "m-1"}[i] })
	sum, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Downloaded, "only the new row is downloaded")

	jobs := e.jobs()
	assert.Equal(t, "m-1.mp4", jobs["m"].Outputs[0].Path, "a recorded name is kept")
	assert.Equal(t, "m-1+1.mp4", jobs["m-1"].Outputs[0].Path)
	got, err := os.ReadFile(filepath.Join(e.out, "m-1.mp4"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(mVideo, got), "m's video is untouched")
	rep := e.verifyAll()
	assert.Equal(t, 3, rep.OK, "findings %+v", rep.Findings)
	assertNoPartFiles(t, e.out)
}

// plantOutside makes a file outside the output folder and returns its
// path and content.
func plantOutside(t *testing.T, name string) (string, []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	content := []byte("precious bytes outside the output folder\n")
	require.NoError(t, os.WriteFile(p, content, 0o600))
	return p, content
}

// TestPlantedSymlinksAreNeverFollowed plants symbolic links in the output
// folder where pikabatch writes: at a part file's name, at a video's final
// name, and at a done video (the link's target the same size). Files
// outside the folder stay untouched, and every video ends up a real file.
func TestPlantedSymlinksAreNeverFollowed(t *testing.T) {
	t.Parallel()
	const rows = 4
	e := setup(t, rows, sim.Config{})
	require.NoError(t, os.MkdirAll(e.out, 0o755))
	partTarget, partContent := plantOutside(t, "part-target")
	finalTarget, finalContent := plantOutside(t, "final-target")
	dangling := filepath.Join(t.TempDir(), "never-created")
	require.NoError(t, os.Symlink(partTarget, filepath.Join(e.out, ".pikabatch-clip-0000+1.part")))
	require.NoError(t, os.Symlink(finalTarget, filepath.Join(e.out, "clip-0001.mp4")))
	require.NoError(t, os.Symlink(dangling, filepath.Join(e.out, ".pikabatch-clip-0002+1.part")))
	require.NoError(t, os.Symlink(dangling, filepath.Join(e.out, "clip-0003.mp4")))
	// A hard link too: resuming it would write into the file outside.
	hardTarget, hardContent := plantOutside(t, "hard-target")
	require.NoError(t, os.Link(hardTarget, filepath.Join(e.out, ".pikabatch-clip-0001+1.part")))
	indexTarget, indexContent := plantOutside(t, "index-target")
	require.NoError(t, os.Symlink(indexTarget, filepath.Join(e.out, results.IndexFile)))

	_, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	e.assertAllDownloaded(rows)
	assertRegularFiles(t, e.out)
	assertNoPartFiles(t, e.out)
	got, _ := os.ReadFile(partTarget)
	assert.Equal(t, partContent, got, "the part link's target is untouched")
	got, _ = os.ReadFile(finalTarget)
	assert.Equal(t, finalContent, got, "the final link's target is untouched")
	assert.NoFileExists(t, dangling, "a dangling link is never created through")
	got, _ = os.ReadFile(hardTarget)
	assert.Equal(t, hardContent, got, "the hard link's other name is untouched")
	got, _ = os.ReadFile(indexTarget)
	assert.Equal(t, indexContent, got, "the index link's target is untouched")

	// A done video swapped for a link to a copy outside: same size, same
	// bytes, and still not the file that was downloaded. Resume downloads
	// it again and verify does not call it ok.
	video := filepath.Join(e.out, "clip-0000.mp4")
	content, err := os.ReadFile(video)
	require.NoError(t, err)
	outside := filepath.Join(t.TempDir(), "copy.mp4")
	require.NoError(t, os.WriteFile(outside, content, 0o600))
	require.NoError(t, os.Remove(video))
	require.NoError(t, os.Symlink(outside, video))
	rep := e.verifyAll()
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, "clip-0000.mp4", rep.Findings[0].Path)
	assert.Equal(t, verify.NotRegular, rep.Findings[0].Problem)

	sum, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Downloaded, "the linked video is downloaded again")
	assertRegularFiles(t, e.out)
	got, _ = os.ReadFile(outside)
	assert.Equal(t, content, got)
	assert.Equal(t, rows, e.verifyAll().OK)
}

// assertRegularFiles checks that nothing in dir is a symbolic link.
func assertRegularFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, ent := range entries {
		assert.Zero(t, ent.Type()&os.ModeSymlink, "%s is a link", ent.Name())
	}
}

// stallOnce serves the first request for each file (no Range) half-way
// and then holds the connection open without sending more, until the
// client gives up or the test ends. Requests with Range are served.
type stallOnce struct {
	next    http.Handler
	release <-chan struct{}
	stalled atomic.Int64
	ranged  atomic.Int64
}

func (s *stallOnce) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Range") != "" {
		s.ranged.Add(1)
		s.next.ServeHTTP(w, r)
		return
	}
	s.next.ServeHTTP(&halfWriter{ResponseWriter: w, s: s, ctx: r.Context()}, r)
}

type halfWriter struct {
	http.ResponseWriter
	s       *stallOnce
	ctx     context.Context
	written int
	limit   int
}

func (h *halfWriter) WriteHeader(code int) {
	if cl := h.Header().Get("Content-Length"); cl != "" {
		_, _ = fmt.Sscan(cl, &h.limit)
		h.limit /= 2
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *halfWriter) Write(p []byte) (int, error) {
	if h.limit == 0 {
		h.WriteHeader(http.StatusOK)
	}
	n := min(len(p), h.limit-h.written)
	n, err := h.ResponseWriter.Write(p[:n])
	h.written += n
	if err != nil || h.written < h.limit {
		return n, err
	}
	_ = http.NewResponseController(h.ResponseWriter).Flush()
	h.s.stalled.Add(1)
	select {
	case <-h.ctx.Done():
	case <-h.s.release:
	}
	return n, http.ErrAbortHandler
}

// TestStalledDownloadsTimeOutAndResume: a storage host that stops sending
// mid-body was waited on forever. Each transfer gives up after the idle
// timeout and the retry resumes with Range.
func TestStalledDownloadsTimeOutAndResume(t *testing.T) {
	t.Parallel()
	const rows = 4
	w := setupWrapped(t, rows, sim.Config{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	st := &stallOnce{next: w.sim.FilesHandler(), release: release}
	w.files.set(st)
	sum, err := w.runOnce(t.Context(), func(c *runner.Config) { c.Download.IdleTimeout = 250 * time.Millisecond })
	require.NoError(t, err)
	w.assertAllDownloaded(rows)
	assert.GreaterOrEqual(t, st.stalled.Load(), int64(rows), "every first transfer stalled")
	assert.GreaterOrEqual(t, st.ranged.Load(), int64(rows), "and was resumed with Range")
	assert.GreaterOrEqual(t, sum.DownloadRetries, rows)
}

// headerLog records the headers of every request a handler saw.
type headerLog struct {
	mu   sync.Mutex
	seen []http.Header
}

func (l *headerLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, r.Header.Clone())
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *headerLog) assertNone(t *testing.T, names ...string) int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.seen {
		for _, n := range names {
			assert.Empty(t, h.Get(n), "header %s was sent: %q", n, h.Get(n))
		}
	}
	return len(l.seen)
}

// withUserinfo puts user:password into every result URL, as a storage
// host's URL with credentials would carry them.
type withUserinfo struct{ runner.API }

func (a withUserinfo) Result(ctx context.Context, id string) (api.Result, error) {
	res, err := a.API.Result(ctx, id)
	for i, o := range res.Outputs {
		res.Outputs[i] = strings.Replace(o, "://", "://user:pw@", 1)
	}
	return res, err
}

// TestDownloadRedirectsCarryNoCredentials: a redirect from the storage
// host carried a Referer holding the pre-signed query to the next host.
// Neither host may see a Referer or an Authorization header.
func TestDownloadRedirectsCarryNoCredentials(t *testing.T) {
	t.Parallel()
	const rows = 3
	w := setupWrapped(t, rows, sim.Config{})
	var first, second headerLog
	next := httptest.NewServer(second.wrap(w.sim.FilesHandler()))
	t.Cleanup(next.Close)
	w.files.set(first.wrap(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, next.URL+r.URL.RequestURI(), http.StatusFound)
	})))
	_, err := w.runAPI(t.Context(), func(a runner.API) runner.API { return withUserinfo{a} }, nil)
	require.NoError(t, err)
	w.assertAllDownloaded(rows)
	assert.GreaterOrEqual(t, first.assertNone(t, "Referer", "Authorization"), rows)
	assert.GreaterOrEqual(t, second.assertNone(t, "Referer", "Authorization"), rows)
}

// TestRedirectToAFileURLIsRefused: a storage host that redirects to
// file:///… was logged as "download cut off" and retried. It is a
// permanent failure of that download, said as it is.
func TestRedirectToAFileURLIsRefused(t *testing.T) {
	t.Parallel()
	const rows = 2
	w := setupWrapped(t, rows, sim.Config{})
	var hits atomic.Int64
	w.files.set(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(rw, r, "file:///etc/passwd", http.StatusFound)
	}))
	sum, err := w.runOnce(t.Context(), nil)
	require.ErrorIs(t, err, runner.ErrFailedRows)
	assert.Zero(t, sum.DownloadRetries, "a refused redirect is not retried")
	assert.EqualValues(t, rows, hits.Load())
	assert.Equal(t, rows, sum.FailReasons["storage host redirected to a non-http URL"], "reasons %v", sum.FailReasons)
	for key, j := range w.jobs() {
		assert.Equal(t, store.StateRendered, j.State, key)
		assert.Contains(t, j.LastError, "file: URL", key)
		assert.NotContains(t, j.LastError, "cut off", key)
		assert.NotContains(t, j.LastError, "sig=", key)
	}
	for _, ent := range mustReadDir(t, w.out) {
		assert.NotEqual(t, ".mp4", filepath.Ext(ent.Name()), "nothing was downloaded")
	}
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	return entries
}

// TestCredentialsStayOutOfTheIndex: a pre-signed image URL was written to
// results.jsonl as given. (A user name or password in an image URL is
// refused when the manifest is read: see manifest.TestImageUserinfo.)
func TestCredentialsStayOutOfTheIndex(t *testing.T) {
	t.Parallel()
	e := setup(t, 2, sim.Config{})
	e.writeManifest(2, func(i int, rec []string) {
		rec[1] = fmt.Sprintf("https://img.example.com/%d.jpg?X-Amz-Signature=c0ffee%d&X-Amz-Credential=AKIAEXAMPLE&width=512", i, i)
	})
	_, err := e.runOnce(t.Context(), nil)
	require.NoError(t, err)
	index, err := os.ReadFile(filepath.Join(e.out, results.IndexFile))
	require.NoError(t, err)
	for _, secret := range []string{"c0ffee", "AKIAEXAMPLE"} {
		assert.NotContains(t, string(index), secret)
	}
	assert.Contains(t, string(index), "img.example.com/0.jpg", "the rest of the URL is kept")
	assert.Contains(t, string(index), "width=512")
	// With nothing secret in it, the index is as readable as the videos.
	fi, err := os.Stat(filepath.Join(e.out, results.IndexFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(results.Perm), fi.Mode().Perm())
	// The API was sent the URL as written: only what pikabatch shows is redacted.
	st, err := store.Open(filepath.Join(e.out, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	defer st.Close()
	j, err := st.Get(t.Context(), "clip-0000")
	require.NoError(t, err)
	assert.Contains(t, string(j.Input), "X-Amz-Signature=c0ffee0")
}
