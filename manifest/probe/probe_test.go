package probe_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pikabatch/pikabatch/manifest/probe"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	png = append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 2000)...)
	mp4 = append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), make([]byte, 2000)...)
)

// imageHost serves images the way real hosts do, each path a behaviour.
type imageHost struct {
	*httptest.Server
	requests              sync.Map // path → *atomic.Int64
	inFlight, maxInFlight atomic.Int64
}

func (h *imageHost) count(path string) int64 {
	v, _ := h.requests.LoadOrStore(path, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func newImageHost(t *testing.T) *imageHost {
	h := &imageHost{}
	mux := http.NewServeMux()
	serve := func(w http.ResponseWriter, r *http.Request, ctype string, body []byte) {
		w.Header().Set("Content-Type", ctype)
		http.ServeContent(w, r, "", zeroTime, bytesReader(body))
	}
	mux.HandleFunc("/ok.jpg", func(w http.ResponseWriter, r *http.Request) { serve(w, r, "image/jpeg", png) })
	mux.HandleFunc("/get-only.png", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusForbidden) // signed for GET only
			return
		}
		serve(w, r, "image/png", png)
	})
	mux.HandleFunc("/no-head.png", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		serve(w, r, "application/octet-stream", png) // sniffed
	})
	mux.HandleFunc("/page.html", func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, "text/html; charset=utf-8", []byte("<html>login</html>"))
	})
	mux.HandleFunc("/huge.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", strconv.Itoa(60<<20))
		if r.Method == http.MethodHead {
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	// A login page under an image's name and type.
	mux.HandleFunc("/page-as.jpg", func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, "image/jpeg", []byte("<!DOCTYPE html><html><body>Sign in</body></html>"))
	})
	mux.HandleFunc("/clip.mp4", func(w http.ResponseWriter, r *http.Request) { serve(w, r, "video/mp4", mp4) })
	mux.HandleFunc("/clip-as.jpg", func(w http.ResponseWriter, r *http.Request) { serve(w, r, "image/jpeg", mp4) })
	mux.HandleFunc("/empty.jpg", func(w http.ResponseWriter, r *http.Request) { serve(w, r, "image/jpeg", nil) })
	mux.HandleFunc("/private.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	})
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := h.requests.LoadOrStore(r.URL.Path, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		n := h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
		for {
			m := h.maxInFlight.Load()
			if n <= m || h.maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func TestCheck(t *testing.T) {
	h := newImageHost(t)
	c := probe.New(probe.Config{RPS: -1})
	ctx := context.Background()
	tests := []struct {
		path, problem string
		kind          probe.Kind
		ok            bool
		size          int64
	}{
		{path: "/ok.jpg", ok: true, size: int64(len(png))},
		{path: "/get-only.png", ok: true, size: int64(len(png))},
		{path: "/no-head.png", ok: true, size: int64(len(png))},
		{path: "/page.html", problem: "not an image (text/html)", size: 18},
		{path: "/page-as.jpg", problem: "not an image: an HTML page served as image/jpeg", size: 48},
		{path: "/clip-as.jpg", problem: "not an image: the bytes are video/mp4, served as image/jpeg", size: int64(len(mp4))},
		{path: "/empty.jpg", problem: "an empty file", size: 0},
		{path: "/clip.mp4", kind: probe.KindVideo, ok: true, size: int64(len(mp4))},
		{path: "/clip.mp4", kind: probe.KindAudio, problem: "not an audio (video/mp4)", size: int64(len(mp4))},
		{path: "/ok.jpg", kind: probe.KindVideo, problem: "not a video (image/jpeg)", size: int64(len(png))},
		{path: "/huge.jpg", problem: "62914560 bytes, over the 50 MB limit", size: 60 << 20},
		{path: "/private.jpg", problem: "HTTP 401 Unauthorized: the host wants a login", size: -1},
		{path: "/missing.jpg", problem: "HTTP 404 Not Found", size: -1},
	}
	for _, tt := range tests {
		t.Run(tt.path+" as "+string(tt.kind), func(t *testing.T) {
			res, err := c.CheckKind(ctx, h.URL+tt.path, tt.kind)
			require.NoError(t, err)
			assert.Equal(t, tt.ok, res.OK, res.Problem)
			assert.Contains(t, res.Problem, tt.problem)
			assert.Equal(t, "GET", res.Method, "one ranged GET: only the bytes tell a page from an image")
			assert.Equal(t, tt.size, res.Size)
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL + "/x.jpg"
		dead.Close()
		res, err := c.Check(ctx, url)
		require.NoError(t, err)
		assert.False(t, res.OK)
		assert.NotEmpty(t, res.Problem)
	})
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	for field, want := range map[string]probe.Kind{
		"image": probe.KindImage, "image_url": probe.KindImage, "end_image": probe.KindImage,
		"video_url": probe.KindVideo, "Video": probe.KindVideo, "audio_url": probe.KindAudio,
	} {
		assert.Equal(t, want, probe.KindOf(field), field)
	}
}

func TestRunChecksEachURLOnceWithinLimits(t *testing.T) {
	h := newImageHost(t)
	c := probe.New(probe.Config{Concurrency: 3, RPS: 1000})
	var items []probe.Item[int]
	for i := range 40 {
		items = append(items, probe.Item[int]{URL: fmt.Sprintf("%s/ok.jpg?v=%d", h.URL, i%20), Data: i})
	}
	i := 0
	next := func() (probe.Item[int], bool) {
		if i == len(items) {
			return probe.Item[int]{}, false
		}
		i++
		return items[i-1], true
	}
	got := map[int]bool{}
	err := probe.Run(context.Background(), c, next, func(it probe.Item[int], res probe.Result) {
		got[it.Data] = res.OK
	})
	require.NoError(t, err)
	assert.Len(t, got, 40)
	for k, ok := range got {
		assert.True(t, ok, "row %d", k)
	}
	assert.Equal(t, int64(20), h.count("/ok.jpg"), "one request per distinct URL")
	assert.LessOrEqual(t, h.maxInFlight.Load(), int64(3))
}

// TestResultIsPrintable: what a host says reaches the terminal through
// validate --check-urls; C1 controls and bidi overrides
// pass Go's header parsing, so the Result escapes them.
func TestResultIsPrintable(t *testing.T) {
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/c1.png":
			w.Header().Set("Content-Type", "image/\u009b2J\u202epng")
			_, _ = w.Write(png)
		default:
			w.Header().Set("Content-Type", "text/\u009b31m")
			_, _ = w.Write(png)
		}
	}))
	t.Cleanup(host.Close)
	c := probe.New(probe.Config{RPS: -1})
	for _, path := range []string{"/c1.png", "/page"} {
		res, err := c.Check(context.Background(), host.URL+path)
		require.NoError(t, err)
		for _, s := range []string{res.ContentType, res.Problem} {
			assert.NotRegexp(t, `[\x00-\x1f\x7f\x{80}-\x{9f}\x{202a}-\x{202e}]`, s, "%+v", res)
		}
		assert.Contains(t, res.ContentType+res.Problem, `\u009b`, "escaped, not dropped: %+v", res)
	}
}

// TestRunStreamsInOrderWithinBounds: a manifest of any size is checked in
// bounded memory: results come back in the order read
// while at most a window of items is read ahead, and at most CacheSize
// verdicts are kept, however many distinct URLs there are.
func TestRunStreamsInOrderWithinBounds(t *testing.T) {
	const rows, cacheSize = 3000, 16
	c := probe.New(probe.Config{Concurrency: 4, RPS: -1, CacheSize: cacheSize})
	window := c.Window()
	var others atomic.Int64
	windowFull := make(chan struct{})
	var fullOnce sync.Once
	requests := make([]atomic.Int64, rows)
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Path[len("/img/"):])
		if !assert.NoError(t, err) {
			return
		}
		requests[n].Add(1)
		if n == 0 {
			// The first row answers last of its window: the rows after it
			// finish first and wait for it to be reported.
			select {
			case <-windowFull:
			case <-r.Context().Done():
				return
			}
		} else if others.Add(1) == int64(window-1) {
			fullOnce.Do(func() { close(windowFull) })
		}
		w.Header().Set("Content-Type", "image/png")
		http.ServeContent(w, r, "", zeroTime, bytesReader(png))
	}))
	t.Cleanup(host.Close)

	var read, reported atomic.Int64
	next := func() (probe.Item[int], bool) {
		i := int(read.Load())
		if i == rows {
			return probe.Item[int]{}, false
		}
		ahead := read.Add(1) - reported.Load()
		assert.LessOrEqual(t, ahead, int64(window), "row %d read with %d rows unreported", i, ahead-1)
		return probe.Item[int]{URL: fmt.Sprintf("%s/img/%d", host.URL, i), Data: i}, true
	}
	var order []int
	err := probe.Run(t.Context(), c, next, func(it probe.Item[int], res probe.Result) {
		assert.True(t, res.OK, "row %d: %s", it.Data, res.Problem)
		order = append(order, it.Data)
		reported.Add(1)
	})
	require.NoError(t, err)
	require.Len(t, order, rows)
	for i, n := range order {
		if !assert.Equal(t, i, n, "reported in the order read") {
			break
		}
	}
	for i := range requests {
		assert.Equal(t, int64(1), requests[i].Load(), "row %d asked once", i)
	}
	cached, ahead := c.Peaks()
	assert.Equal(t, cacheSize, cached, "verdicts kept")
	assert.Equal(t, window, ahead, "rows read ahead: the window filled while row 0 was slow")
}

// TestCheckForgetsLeastRecentlyUsed: a URL asked again is answered from
// the cache while it is among the CacheSize most recently used.
func TestCheckForgetsLeastRecentlyUsed(t *testing.T) {
	h := newImageHost(t)
	c := probe.New(probe.Config{RPS: -1, CacheSize: 2})
	url := func(v string) string { return h.URL + "/ok.jpg?v=" + v }
	for _, v := range []string{"a", "b", "a", "c", "a", "b"} {
		res, err := c.Check(t.Context(), url(v))
		require.NoError(t, err)
		require.True(t, res.OK, res.Problem)
	}
	// a, b asked; a cached; c evicts b; a cached; b evicted, asked again.
	assert.Equal(t, int64(4), h.count("/ok.jpg"))
	cached, _ := c.Peaks()
	assert.Equal(t, 2, cached)
}

// TestRunStopsWithCtx: a run cut short returns ctx's error, reports in
// order up to where it stopped, and leaves no goroutine behind (TestMain).
func TestRunStopsWithCtx(t *testing.T) {
	h := newImageHost(t)
	c := probe.New(probe.Config{Concurrency: 3, RPS: -1})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	i := 0
	next := func() (probe.Item[int], bool) {
		i++
		return probe.Item[int]{URL: fmt.Sprintf("%s/ok.jpg?v=%d", h.URL, i), Data: i}, true // endless
	}
	var got []int
	err := probe.Run(ctx, c, next, func(it probe.Item[int], _ probe.Result) {
		got = append(got, it.Data)
		if len(got) == 5 {
			cancel()
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	require.GreaterOrEqual(t, len(got), 5)
	for k, n := range got {
		assert.Equal(t, k+1, n, "in order")
	}
	_, ahead := c.Peaks()
	assert.LessOrEqual(t, ahead, c.Window())
}
