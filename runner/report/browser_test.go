package report

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/reasons"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// The browser test drives a real headless Chromium with chromedp (the
// DevTools protocol) rather than running `chromium --dump-dom`: a dump is
// the DOM once, after load, while the test must scroll to get the grid's
// next page, pick a state in the filter and click a state chip, and wait
// for each result inside the page (chromedp.Poll waits on the page's own
// animation frames, not on a clock). chromedp also starts and stops the
// browser whole: cancelling its allocator waits for the process, and kills
// the helper processes that would outlive it.

// chromiumNames are the binaries the test looks for on PATH.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// requireBrowserEnv is set by the project's test script (.ci/test), which
// installs Chromium first: there a missing browser fails the test, since
// the report is checked in a real browser or not at all. A plain `go test`
// on a machine without Chromium skips it, saying how to run it.
const requireBrowserEnv = "PIKABATCH_REQUIRE_BROWSER"

// chromiumBinary finds Chromium. Without one it fails the test when the
// test script asked for the browser, and skips it otherwise.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PIKABATCH_CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		require.NoError(t, err, "PIKABATCH_CHROMIUM=%s is not a program", p)
		return path
	}
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := fmt.Sprintf("no Chromium found: the report's browser test needs one (%s on PATH, or PIKABATCH_CHROMIUM=/path/to/chrome). "+
		"Install it with `sudo apt-get install -y chromium` (Debian, Ubuntu), or run the tests with `bash .ci/test`, which installs it when it can",
		strings.Join(chromiumNames, ", "))
	if os.Getenv(requireBrowserEnv) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// expected is what the report must show, worked out from the state file
// without the report's code.
type expected struct {
	jobs     int
	byState  map[store.State]int
	clips    []string            // absolute paths of the files the grid shows
	failures map[string][]string // message as shown → keys
	failed   int
	submits  int
	hostile  string // the prompt of job "hostile"
}

const hostilePrompt = `"quoted" </script><img src=x onerror="window.pwned=1"><script>window.pwned=2</script> <!-- ` + "\x1b]0;pwned\x07\x1b[2J"

// buildBatch writes a state file and the files of its done jobs into dir:
// more clips than a page of the grid, failures under three messages (one
// with IDs that vary), every other kind of state, a done job whose file is
// gone, a file name that needs escaping in a URL, and hostile text.
func buildBatch(t *testing.T, dir string) expected {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(filepath.Join(dir, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()

	in := func(prompt string, seed int) json.RawMessage {
		b, err := json.Marshal(map[string]any{"image": "https://img.example.com/" + strconv.Itoa(seed) + ".jpg",
			"promptText": prompt, "seed": seed, "duration": 5, "resolution": "1080p"})
		require.NoError(t, err)
		return b
	}
	var jobs []store.Job
	done := func(key, file, prompt string, seed int) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, file), []byte("not really a video: "+key), 0o644))
		jobs = append(jobs, store.Job{Key: key, ParamHash: "h", State: store.StateDone, RequestID: "req-" + key, Attempts: 1,
			Input: in(prompt, seed), Outputs: []store.Output{{URL: "https://files.example.com/" + key, Path: file, Size: 10, SHA256: "00"}}})
	}
	for i := range 72 {
		key := fmt.Sprintf("clip-%03d", i)
		done(key, key+".mp4", fmt.Sprintf("a lighthouse at dusk, take %d", i), i)
	}
	done("hostile", "hostile.mp4", hostilePrompt, 99)
	done("clip #5 50%", "clip #5 50%.mp4", "a name to escape", 100)
	done("deleted", "deleted.mp4", "its file was removed", 101)
	require.NoError(t, os.Remove(filepath.Join(dir, "deleted.mp4")))

	fail := func(key string, state store.State, msg string) {
		jobs = append(jobs, store.Job{Key: key, ParamHash: "h", State: state, RequestID: "req-" + key, Attempts: 2,
			Input: in("fails", 0), LastError: msg})
	}
	for i := range 4 {
		fail(fmt.Sprintf("policy-%d", i), store.StateFailed, fmt.Sprintf("job %08x-77b0 failed: content policy violation", 0x3f9a2c71+i))
	}
	fail("fetch-1", store.StateFailed, "image could not be fetched: https://img.example.com/a.jpg?X-Amz-Signature=abc <b onmouseover=alert(1)>")
	fail("fetch-2", store.StateFailed, "image could not be fetched: https://img.example.com/b.jpg <b onmouseover=alert(1)>")
	fail("slow", store.StateTimedOut, "")
	fail("lost", store.StateExpired, "request expired: the API no longer knows it")
	fail("stopped", store.StateCancelled, "cancelled by pikabatch cancel")
	for i := range 3 {
		jobs = append(jobs, store.Job{Key: fmt.Sprintf("waiting-%d", i), ParamHash: "h", State: store.StatePending, Input: in("later", i)})
	}
	for i := range 2 {
		jobs = append(jobs, store.Job{Key: fmt.Sprintf("busy-%d", i), ParamHash: "h", State: store.StateRunning,
			RequestID: fmt.Sprintf("req-busy-%d", i), Attempts: 1, Input: in("now", i)})
	}

	// Concurrent puts share transactions: one fsync for many jobs.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for _, j := range jobs {
		g.Go(func() error { return st.Put(gctx, j) })
	}
	require.NoError(t, g.Wait())

	want := expected{byState: map[store.State]int{}, failures: map[string][]string{}, hostile: results.EscapeControls(hostilePrompt)}
	require.NoError(t, st.ForEach(ctx, func(j store.Job) error {
		want.jobs++
		want.byState[j.State]++
		want.submits += j.Attempts
		for _, o := range j.Outputs {
			p := filepath.Join(dir, o.Path)
			if _, err := os.Stat(p); err == nil {
				want.clips = append(want.clips, p)
			}
		}
		switch j.State {
		case store.StateFailed, store.StateTimedOut, store.StateExpired, store.StateCancelled:
			msg := j.LastError
			if msg == "" {
				msg = string(j.State)
			}
			msg = results.EscapeControls(reasons.Normalize(msg))
			want.failures[msg] = append(want.failures[msg], j.Key)
			want.failed++
		}
		return nil
	}))
	slices.Sort(want.clips)
	require.Len(t, want.clips, 74, "the batch as planned: every done job but one has its file")
	require.Len(t, want.failures, 5)
	return want
}

// browser starts a headless Chromium for the test and stops it when the
// test ends, checking that none of its processes outlive it.
func browser(t *testing.T, bin string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.WindowSize(1280, 900),
		// Chromium refuses to start its sandbox as root (CI containers run
		// as root), so only then does it run without one; as any other
		// user the sandbox stays on, since the page under test shows
		// hostile text.
		chromedp.Flag("no-sandbox", os.Geteuid() == 0),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf), chromedp.WithErrorf(t.Logf))
	// The first Run starts the browser, and the browser lives as long as
	// that Run's context: ctx, not one with a timeout.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")), "start %s", bin)
	proc := chromedp.FromContext(ctx).Browser.Process()
	require.NotNil(t, proc)
	profile := userDataDir(t, proc.Pid)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser and kills the helpers left over
		if runtime.GOOS != "linux" {
			return
		}
		assert.Empty(t, processesWith("--user-data-dir="+profile), "no Chromium process outlives the test")
	})
	return ctx
}

// userDataDir is the profile folder of the Chromium with pid: every one of
// its processes names it on its command line.
func userDataDir(t *testing.T, pid int) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	require.NoError(t, err)
	for arg := range strings.SplitSeq(string(b), "\x00") {
		if dir, ok := strings.CutPrefix(arg, "--user-data-dir="); ok {
			return dir
		}
	}
	t.Fatalf("no --user-data-dir on the command line of Chromium (pid %d)", pid)
	return ""
}

// processesWith lists the pids of processes that have arg on their
// command line.
func processesWith(arg string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && slices.Contains(strings.Split(string(b), "\x00"), arg) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// artifactDir is where the test leaves its screenshot for CI to keep:
// $PIKABATCH_ARTIFACTS, or a folder in the system's temporary folder
// (t.TempDir is removed when the test ends).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PIKABATCH_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "pikabatch-artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// eval runs a JavaScript expression in the page and decodes its value.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, "evaluate %s", expr)
	return v
}

// waitFor waits, inside the page, until expr is true.
func waitFor(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err, "wait for %s", expr)
}

// The cards in the grid, and how many have each state.
const cardsJS = `(() => { const s = {}; document.querySelectorAll('#grid .card').forEach(c => s[c.dataset.state] = (s[c.dataset.state] || 0) + 1); return s; })()`

func TestReportInChromium(t *testing.T) {
	bin := chromiumBinary(t)
	dir := t.TempDir()
	want := buildBatch(t, dir)

	// The report reads the batch as `pikabatch report` does.
	ctx := context.Background()
	statePath := filepath.Join(dir, ".pikabatch.db")
	src, err := live.Open(ctx, statePath, live.OpenOptions{})
	require.NoError(t, err)
	sum, err := WriteFile(ctx, Options{Dir: dir, StateFiles: []string{statePath}}, src)
	require.NoError(t, src.Close())
	require.NoError(t, err)
	require.Equal(t, len(want.clips), sum.Clips)
	reportURL := (&url.URL{Scheme: "file", Path: filepath.Join(dir, FileName)}).String()

	bctx := browser(t, bin)
	var requests requestLog
	tab := openTab(t, bctx, reportURL, &requests)

	// The top: counts and spend.
	waitFor(t, tab, `document.querySelectorAll('#grid .card').length > 0`)
	assert.Equal(t, "pikabatch report: "+dir, eval[string](t, tab, `document.title`))
	assert.Equal(t, strconv.Itoa(want.jobs), eval[string](t, tab, `document.getElementById('jobs').textContent`))
	assert.Equal(t, strconv.Itoa(len(want.clips)), eval[string](t, tab, `document.getElementById('clips').textContent`))
	assert.Equal(t, strconv.Itoa(want.failed), eval[string](t, tab, `document.getElementById('failed').textContent`))
	assert.Equal(t, fmt.Sprintf("%d submits", want.submits), eval[string](t, tab, `document.getElementById('spend').textContent`))

	// The grid comes a page at a time; scrolling to its end brings the rest.
	assert.Equal(t, 60, eval[int](t, tab, `document.querySelectorAll('#grid .card').length`), "one page of cards at first")
	require.NoError(t, chromedp.Do(tab, chromedp.ScrollIntoView(chromedp.ID("sentinel"))))
	waitFor(t, tab, fmt.Sprintf(`document.querySelectorAll('#grid .card').length === %d`, want.jobs))
	states := eval[map[store.State]int](t, tab, cardsJS)
	for st, n := range want.byState {
		assert.Equal(t, n, states[st], "cards in state %s", st)
	}

	// Every clip of the state, each a muted, looping video whose src is
	// the file beside the report.
	type videoAttrs struct {
		Src     string `json:"src"`
		Muted   bool   `json:"muted"`
		Loop    bool   `json:"loop"`
		Preload string `json:"preload"`
	}
	videos := eval[[]videoAttrs](t, tab, `[...document.querySelectorAll('#grid video')].map(v => ({src: v.src, muted: v.muted && v.hasAttribute('muted'), loop: v.loop, preload: v.getAttribute('preload')}))`)
	var shown []string
	for _, v := range videos {
		u, err := url.Parse(v.Src)
		require.NoError(t, err)
		require.Equal(t, "file", u.Scheme, v.Src)
		fi, err := os.Stat(u.Path)
		if assert.NoError(t, err, "the src %s is a file on disk", v.Src) {
			assert.True(t, fi.Mode().IsRegular())
		}
		assert.True(t, v.Muted && v.Loop && v.Preload == "metadata", "%+v", v)
		shown = append(shown, u.Path)
	}
	slices.Sort(shown)
	assert.Equal(t, want.clips, shown, "the clips shown are the files the state records")

	// Failures, grouped by message, with their keys.
	type group struct {
		Message string   `json:"message"`
		Count   string   `json:"count"`
		Keys    []string `json:"keys"`
	}
	groups := eval[[]group](t, tab, `[...document.querySelectorAll('#failures .failure-group')].map(g => ({
		message: g.querySelector('.failure-message').textContent, count: g.querySelector('.failure-count').textContent,
		keys: [...g.querySelectorAll('.failure-key')].map(k => k.textContent)}))`)
	got := map[string][]string{}
	keys := 0
	for _, g := range groups {
		got[g.Message] = g.Keys
		keys += len(g.Keys)
		assert.Equal(t, strconv.Itoa(len(g.Keys)), g.Count, g.Message)
	}
	assert.Equal(t, want.failures, got)
	assert.Equal(t, want.failed, keys)
	assert.Equal(t, "4", groups[0].Count, "most frequent first")

	// Hostile text is shown as text: nothing of it ran or became markup.
	assert.Equal(t, want.hostile, eval[string](t, tab, `[...document.querySelectorAll('.card')].find(c => c.querySelector('.key').textContent === 'hostile').querySelector('.prompt').textContent`))
	assert.True(t, eval[bool](t, tab, `window.pwned === undefined`), "no script of the data ran")
	assert.Equal(t, 2, eval[int](t, tab, `document.scripts.length`), "the data block and the page's script")
	assert.Zero(t, eval[int](t, tab, `document.querySelectorAll('img, b').length`), "no element from the data")

	// The filter by state: the select, a state chip, and the address.
	require.NoError(t, chromedp.Do(tab,
		chromedp.SetValue(chromedp.ID("state-filter"), "failed"),
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			_, err := chromedp.Evaluate[chromedp.Void](`document.getElementById('state-filter').dispatchEvent(new Event('change'))`)(ctx, tgt)
			return err
		})))
	waitFor(t, tab, fmt.Sprintf(`document.querySelectorAll('#grid .card').length === %d`, want.byState[store.StateFailed]))
	assert.Equal(t, map[store.State]int{store.StateFailed: want.byState[store.StateFailed]}, eval[map[store.State]int](t, tab, cardsJS))
	assert.Equal(t, "#state=failed", eval[string](t, tab, `location.hash`))

	require.NoError(t, chromedp.Do(tab, chromedp.Click(`.chip[data-state="running"]`)))
	waitFor(t, tab, `document.getElementById('state-filter').value === 'running'`)
	assert.Equal(t, map[store.State]int{store.StateRunning: want.byState[store.StateRunning]}, eval[map[store.State]int](t, tab, cardsJS))

	// A link to a state opens the report filtered.
	linked := openTab(t, bctx, reportURL+"#state=timed_out", &requests)
	waitFor(t, linked, `document.querySelectorAll('#grid .card').length === 1`)
	assert.Equal(t, map[store.State]int{store.StateTimedOut: 1}, eval[map[store.State]int](t, linked, cardsJS))
	assert.Equal(t, "timed_out", eval[string](t, linked, `document.getElementById('state-filter').value`))

	// A screenshot of the report, all states, for a person to look at.
	fresh := openTab(t, bctx, reportURL, &requests)
	waitFor(t, fresh, `document.querySelectorAll('#grid .card').length === 60`)
	png, err := chromedp.Run(fresh, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	shot := filepath.Join(artifactDir(t), "report-chromium.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	t.Logf("screenshot of the report: %s", shot)

	// With costs recorded, the spend is in dollars.
	priced := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(priced, "a.mp4"), []byte("video"), 0o644))
	cost := 0.044
	_, err = WriteFile(ctx, Options{Dir: priced, Live: true}, entries{
		{Key: "a", State: store.StateDone, Attempts: 1, Files: []results.FileRef{{Path: "a.mp4"}}, CostUSD: &cost},
		{Key: "b", State: store.StatePending}})
	require.NoError(t, err)
	spent := openTab(t, bctx, (&url.URL{Scheme: "file", Path: filepath.Join(priced, FileName)}).String(), &requests)
	waitFor(t, spent, `document.querySelectorAll('#grid .card').length === 2`)
	assert.Equal(t, "$0.044", eval[string](t, spent, `document.getElementById('spend').textContent`), "as money.USD prints it")
	assert.Equal(t, "1 submit sent; 1 of 2 jobs priced", eval[string](t, spent, `document.getElementById('spend-note').textContent`))
	assert.Contains(t, eval[string](t, spent, `document.querySelector('#grid .card .meta').textContent`), "$0.044")
	assert.Contains(t, eval[string](t, spent, `document.getElementById('generated').textContent`), "while a run was going on")
	assert.NotContains(t, eval[string](t, tab, `document.getElementById('generated').textContent`), "while a run was going on")

	for _, c := range []context.Context{tab, linked, fresh, spent} {
		assert.Empty(t, eval[[]string](t, c, `window.__violations`), "the page's policy let everything it uses load")
	}
	reqs := requests.list()
	assert.NotEmpty(t, reqs)
	var away []string
	for _, r := range reqs {
		// data: URLs are the browser's own video controls' icons.
		if !strings.HasPrefix(r, "file://") && !strings.HasPrefix(r, "data:") {
			away = append(away, r)
		}
	}
	assert.Empty(t, away, "no request leaves the disk")
}

// requestLog records the URLs a browser tab requested.
type requestLog struct {
	mu   sync.Mutex
	urls []string
}

func (l *requestLog) add(u string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.urls = append(l.urls, u)
}

func (l *requestLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.urls)
}

// openTab opens u in a new tab of the browser, recording every request in
// log, and every load the page's policy refused in window.__violations
// (a script the browser runs before the page's own, which the policy
// does not apply to).
func openTab(t *testing.T, bctx context.Context, u string, log *requestLog) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tgt, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tgt, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__violations = []; document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));`})
		return err
	})))
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			log.add(e.Request.URL)
		}
	}))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(u)), "open %s", u)
	return ctx
}
