package sim_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// images serves /ok.png (200), /slow.png (no answer until the client gives
// up) and 404 for anything else, counting requests.
func images(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/ok.png":
			_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n frame"))
		case "/slow.png":
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// failure returns the error message of a failed job's result, and requires
// the documented failed shape.
func (e *env) failure(id string) string {
	e.t.Helper()
	res := e.result(id)
	require.Equal(e.t, "failed", res["status"], "result %v", res)
	assert.NotContains(e.t, res, "output")
	obj, ok := res["error"].(map[string]any)
	require.True(e.t, ok, "no error object in %v", res)
	msg, _ := obj["message"].(string)
	return msg
}

func withImage(n int, u string) map[string]any {
	in := input(n)
	in["image"] = u
	return in
}

func TestFetchInputsFailsJobOnBadInput(t *testing.T) {
	t.Parallel()
	img, _ := images(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	gone := closed.URL + "/a.png"
	closed.Close()
	tests := []struct {
		name, url, want string
	}{
		{"404", img.URL + "/missing.png?X-Amz-Signature=secret-sig", "generation failed: input image could not be fetched: HTTP 404"},
		{"unreachable", gone, "generation failed: input image could not be fetched: host unreachable"},
		{"timeout", img.URL + "/slow.png", "generation failed: input image could not be fetched: no answer within 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, sim.Config{FetchInputs: true, FetchTimeout: 100 * time.Millisecond})
			id := e.submit(withImage(1, tt.url))
			e.clock.Advance(time.Second)
			e.settle()
			msg := e.failure(id)
			assert.Equal(t, tt.want, msg)
			assert.NotContains(t, msg, "secret-sig", "a failure never repeats the URL: it may be a credential")
			j := e.job(id)
			assert.Equal(t, sim.StateFailed, j.State)
			assert.Equal(t, t0, j.StartedAt)
			assert.Equal(t, e.clock.Now(), j.FinishedAt, "a job whose input cannot be fetched fails when the fetch answers")
			c := e.srv.Counters()
			assert.EqualValues(t, 1, c.InputFetchFailures)
			assert.EqualValues(t, 1, c.Failed)
			assert.Zero(t, c.Completed)
		})
	}
}

func TestFetchInputsGoodURLRenders(t *testing.T) {
	t.Parallel()
	img, hits := images(t)
	e := setup(t, sim.Config{FetchInputs: true})
	id := e.submit(withImage(1, img.URL+"/ok.png"))
	e.clock.Advance(time.Hour)
	e.settle()
	assert.NotEmpty(t, e.videoURL(id))
	assert.EqualValues(t, 1, hits.Load())
	c := e.srv.Counters()
	assert.EqualValues(t, 1, c.InputFetches)
	assert.Zero(t, c.InputFetchFailures)
}

// TestFetchInputsOffByDefault: without FetchInputs nothing is fetched, and
// an input that does not exist still renders, as before.
func TestFetchInputsOffByDefault(t *testing.T) {
	t.Parallel()
	img, hits := images(t)
	e := setup(t, sim.Config{})
	id := e.submit(withImage(1, img.URL+"/missing.png"))
	e.clock.Advance(time.Hour)
	assert.NotEmpty(t, e.videoURL(id))
	assert.Zero(t, hits.Load())
	assert.Zero(t, e.srv.Counters().InputFetches)
}

// TestFetchInputsCatalogFileFields: for a catalog model, the fields the
// manifest takes for files are fetched (here a "uri" format and an …_url
// name), and the others are not.
func TestFetchInputsCatalogFileFields(t *testing.T) {
	t.Parallel()
	img, hits := images(t)
	model := sim.CatalogModel{
		ID: "acme/two-inputs", BasePriceUSD: 0.01, PriceUnit: sim.UnitOutput,
		InputSchema: []byte(`{"type":"object","properties":{` +
			`"start":{"type":"string","format":"uri"},"mask_url":{"type":"string"},"prompt":{"type":"string"}}}`),
	}
	e := setup(t, sim.Config{FetchInputs: true, Catalog: append(sim.DefaultCatalog(), model)})
	code, m, _ := e.mustCall(http.MethodPost, "/v1/models/"+model.ID, map[string]any{
		"start": img.URL + "/nope.png", "mask_url": img.URL + "/ok.png", "prompt": img.URL + "/not-a-file.png",
	})
	require.Equal(t, http.StatusOK, code, "%v", m)
	e.clock.Advance(time.Hour)
	e.settle()
	assert.Equal(t, "generation failed: input start could not be fetched: HTTP 404", e.failure(m["request_id"].(string)))
	assert.EqualValues(t, 2, hits.Load(), "mask_url (first by name) and start, not prompt")
}

// expiring serves /a.png and /b.png with 200 until expire(name) is
// called, then 403, as a storage host answers a pre-signed URL past its
// expiry.
func expiring(t *testing.T) (srv *httptest.Server, expire func(string)) {
	t.Helper()
	var mu sync.Mutex
	expired := map[string]bool{}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gone := expired[r.URL.Path]
		mu.Unlock()
		if gone {
			http.Error(w, "Request has expired", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n frame"))
	}))
	t.Cleanup(srv.Close)
	return srv, func(name string) {
		mu.Lock()
		expired[name] = true
		mu.Unlock()
	}
}

// TestFetchInputsAtStart: inputs are fetched when a job takes a slot, not
// when it is accepted. With one slot, a's URL expires after a started and
// a renders; b's URL is good when b is accepted but expires while b waits
// behind a, and b fails with the storage's 403 when it starts.
func TestFetchInputsAtStart(t *testing.T) {
	t.Parallel()
	img, expire := expiring(t)
	e := setup(t, sim.Config{FetchInputs: true, Slots: 1})
	a := e.submit(withImage(1, img.URL+"/a.png?X-Amz-Signature=secret-sig"))
	b := e.submit(withImage(2, img.URL+"/b.png?X-Amz-Signature=secret-sig"))
	e.settle()
	assert.EqualValues(t, 1, e.srv.Counters().InputFetches, "b waits in the queue unfetched")
	expire("/a.png")
	expire("/b.png")

	e.clock.Advance(time.Minute)
	e.settle()
	assert.NotEmpty(t, e.videoURL(a), "a was fetched when it started, while its URL was good")
	msg := e.failure(b)
	assert.Equal(t, "generation failed: input image could not be fetched: HTTP 403", msg)
	assert.NotContains(t, msg, "secret-sig")
	jb := e.job(b)
	assert.Equal(t, t0.Add(10*time.Second), jb.StartedAt, "b started when a finished")
	assert.Equal(t, t0.Add(time.Minute), jb.FinishedAt, "b failed when its fetch answered")
	c := e.srv.Counters()
	assert.EqualValues(t, 2, c.InputFetches)
	assert.EqualValues(t, 1, c.InputFetchFailures)
}

// gated serves each request once release is closed, telling arrived when
// the first one comes.
func gated(t *testing.T) (srv *httptest.Server, arrived <-chan struct{}, release chan<- struct{}) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(in) })
		select {
		case <-out:
			_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n frame"))
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv, in, out
}

// TestFetchInputsRunsPastFinishUntilFetched: a started job whose input has
// not answered reports in_progress, even past the end of its run time, and
// finishes when the fetch answers.
func TestFetchInputsRunsPastFinishUntilFetched(t *testing.T) {
	t.Parallel()
	img, arrived, release := gated(t)
	e := setup(t, sim.Config{FetchInputs: true})
	id := e.submit(withImage(1, img.URL+"/a.png"))
	e.job(id) // takes its slot: the fetch starts
	<-arrived
	e.clock.Advance(time.Hour)
	assert.Equal(t, sim.StateInProgress, e.job(id).State, "its run time is over, its fetch is not")
	close(release)
	e.settle()
	j := e.job(id)
	assert.Equal(t, sim.StateCompleted, j.State)
	assert.Equal(t, t0.Add(time.Hour), j.FinishedAt)
	assert.NotEmpty(t, e.videoURL(id))
}

// TestFetchInputsCloseCutsFetch: Close cancels a fetch in flight and
// returns; the job stays in progress (goleak checks nothing is left).
func TestFetchInputsCloseCutsFetch(t *testing.T) {
	t.Parallel()
	img, arrived, _ := gated(t)
	e := setup(t, sim.Config{FetchInputs: true})
	id := e.submit(withImage(1, img.URL+"/a.png"))
	e.job(id) // takes its slot: the fetch starts
	<-arrived
	e.srv.Close()
	assert.Equal(t, sim.StateInProgress, e.job(id).State)
	assert.Zero(t, e.srv.Counters().InputFetchFailures)
	require.NoError(t, e.srv.WaitFetches(t.Context()))
}

// TestSubmitInlineImage: an image sent inline, as a data: URI of several
// MiB (RunComfy's nodes send up to 64 MiB a request), is accepted by
// default, and with FetchInputs it is decoded rather than fetched; one that
// is not base64 fails its job.
func TestSubmitInlineImage(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{FetchInputs: true})
	big := "data:image/png;base64," + strings.Repeat("QUJD", 2<<20) // 8 MiB
	ok := e.submit(withImage(1, big))
	bad := e.submit(withImage(2, "data:image/png;base64,not*base64"))
	e.clock.Advance(time.Hour)
	e.settle()
	assert.NotEmpty(t, e.videoURL(ok))
	assert.Equal(t, "generation failed: input image could not be fetched: the data: URI is not valid base64", e.failure(bad))
	assert.Zero(t, e.srv.Counters().InputFetches, "nothing was fetched over the network")
}
