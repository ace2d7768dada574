package sim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/internal/clocktest"
	"github.com/pikabatch/pikabatch/runner/sim"
)

func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Slots: 2, RunTime: 10 * time.Second})

	ids := make([]string, 5)
	for i := range ids {
		ids[i] = e.submit(input(i))
	}
	const (
		q  = "in_queue"
		p  = "in_progress"
		ok = "completed"
	)
	steps := []struct {
		at   time.Duration
		want []string
	}{
		{0, []string{p, p, q + "#0", q + "#1", q + "#2"}},
		{9 * time.Second, []string{p, p, q + "#0", q + "#1", q + "#2"}},
		{10 * time.Second, []string{ok, ok, p, p, q + "#0"}},
		{19 * time.Second, []string{ok, ok, p, p, q + "#0"}},
		{20 * time.Second, []string{ok, ok, ok, ok, p}},
		{30 * time.Second, []string{ok, ok, ok, ok, ok}},
	}
	for _, step := range steps {
		e.clock.Advance(t0.Add(step.at).Sub(e.clock.Now()))
		assert.Equal(t, step.want, e.briefStates(ids...), "at %v", step.at)
	}

	// The schedule is exact: two slots, 10s each, FIFO.
	for i, j := range e.srv.Jobs() {
		assert.Equal(t, ids[i], j.RequestID)
		assert.Equal(t, sim.StateCompleted, j.State)
		assert.Equal(t, t0, j.CreatedAt)
		assert.Equal(t, t0.Add(time.Duration(i/2)*10*time.Second), j.StartedAt, "job %d", i)
		assert.Equal(t, t0.Add(time.Duration(i/2+1)*10*time.Second), j.FinishedAt, "job %d", i)
	}

	res := e.result(ids[0])
	assert.Equal(t, ids[0], res["request_id"])
	assert.Equal(t, t0.Format(time.RFC3339Nano), res["created_at"])
	assert.Equal(t, t0.Add(10*time.Second).Format(time.RFC3339Nano), res["finished_at"])
	videoURL := res["output"].(map[string]any)["video"].(string)
	assert.True(t, strings.HasPrefix(videoURL, e.files.URL+"/files/"+ids[0]+"/0.mp4?"), videoURL)

	resp, body, err := e.download(videoURL, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "video/mp4", resp.Header.Get("Content-Type"))
	assert.Equal(t, strconv.Itoa(sim.DefaultVideoSize), resp.Header.Get("Content-Length"))
	want, exists := e.srv.Video(ids[0], 0)
	require.True(t, exists)
	assert.Equal(t, want, body)
	assert.Equal(t, "ftyp", string(body[4:8]))

	j := e.job(ids[0])
	assert.Equal(t, e.clock.Now(), j.FirstResultAt)
	assert.Equal(t, e.clock.Now(), j.FirstDownloadAt)
	assert.Equal(t, 1, j.Downloads)

	c := e.srv.Counters()
	assert.EqualValues(t, 5, c.Submits)
	assert.EqualValues(t, 5, c.Completed)
	assert.EqualValues(t, 1, c.Downloads)
	assert.EqualValues(t, 1, c.ResultCalls)
	assert.EqualValues(t, 6*5, c.StatusCalls)
	assert.EqualValues(t, 5+30+1, c.Requests)
	assert.Zero(t, c.FileRequestsWithAuth)
}

func TestSubmitResponse(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	code, m, h := e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(1))
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	id := m["request_id"].(string)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id)
	base := e.api.URL + "/v1/requests/" + id
	assert.Equal(t, map[string]any{
		"request_id": id,
		"status_url": base + "/status",
		"result_url": base + "/result",
		"cancel_url": base + "/cancel",
	}, m)

	st := e.status(id)
	assert.Equal(t, base+"/status", st["status_url"])
	assert.Equal(t, base+"/result", st["result_url"])
	assert.NotContains(t, st, "queue_position", "only while in_queue")
}

// TestTimelineIsLazyAndExact checks that the schedule does not depend on when
// the client looks.
func TestTimelineIsLazyAndExact(t *testing.T) {
	t.Parallel()

	t.Run("jump", func(t *testing.T) {
		t.Parallel()
		e := setup(t, sim.Config{Slots: 2, RunTime: 10 * time.Second})
		var ids []string
		for i := range 5 {
			ids = append(ids, e.submit(input(i)))
		}
		e.clock.Advance(25 * time.Second)
		assert.Equal(t, []string{"completed", "completed", "completed", "completed", "in_progress"}, e.briefStates(ids...))
		jobs := e.srv.Jobs()
		assert.Equal(t, t0.Add(20*time.Second), jobs[3].FinishedAt)
		assert.Equal(t, t0.Add(20*time.Second), jobs[4].StartedAt)
	})

	t.Run("queue time and arrivals", func(t *testing.T) {
		t.Parallel()
		e := setup(t, sim.Config{Slots: 1, RunTime: 10 * time.Second, QueueTime: 3 * time.Second})
		a := e.submit(input(1))
		e.clock.Advance(time.Second)
		b := e.submit(input(2))
		assert.Equal(t, []string{"in_queue#0", "in_queue#1"}, e.briefStates(a, b))
		e.clock.Advance(time.Minute)
		ja, jb := e.job(a), e.job(b)
		assert.Equal(t, t0.Add(3*time.Second), ja.StartedAt)
		assert.Equal(t, t0.Add(13*time.Second), ja.FinishedAt)
		assert.Equal(t, t0.Add(13*time.Second), jb.StartedAt)
		assert.Equal(t, t0.Add(23*time.Second), jb.FinishedAt)

		// An idle account starts a job as soon as its queue time is over.
		c := e.submit(input(3))
		e.clock.Advance(time.Minute)
		jc := e.job(c)
		assert.Equal(t, jc.CreatedAt.Add(3*time.Second), jc.StartedAt)
	})

	t.Run("duration 10 runs twice as long", func(t *testing.T) {
		t.Parallel()
		e := setup(t, sim.Config{Slots: 2, RunTime: 10 * time.Second})
		in := input(1)
		in["duration"] = 10
		long := e.submit(in)
		short := e.submit(input(2))
		e.clock.Advance(time.Minute)
		assert.Equal(t, t0.Add(20*time.Second), e.job(long).FinishedAt)
		assert.Equal(t, t0.Add(10*time.Second), e.job(short).FinishedAt)
	})

	t.Run("jitter", func(t *testing.T) {
		t.Parallel()
		e := setup(t, sim.Config{Slots: 100, RunTime: 10 * time.Second, RunJitter: 0.5})
		for i := range 50 {
			e.submit(input(i))
		}
		e.clock.Advance(time.Minute)
		seen := map[time.Duration]bool{}
		for _, j := range e.srv.Jobs() {
			run := j.FinishedAt.Sub(j.StartedAt)
			assert.GreaterOrEqual(t, run, 5*time.Second)
			assert.LessOrEqual(t, run, 15*time.Second)
			seen[run] = true
		}
		assert.Greater(t, len(seen), 40, "run times vary")
	})

	t.Run("jitter by input", func(t *testing.T) {
		t.Parallel()
		// Two accounts with different seeds, the rows submitted in
		// opposite orders: each row runs the same time on both.
		runs := func(seed int64, order []int) map[string]time.Duration {
			e := setup(t, sim.Config{Slots: 100, RunTime: 10 * time.Second, RunJitter: 0.5, JitterByInput: true, Seed: seed})
			for _, i := range order {
				e.submit(input(i))
			}
			e.clock.Advance(time.Minute)
			got := map[string]time.Duration{}
			for _, j := range e.srv.Jobs() {
				got[string(j.Input)] = j.FinishedAt.Sub(j.StartedAt)
			}
			return got
		}
		var up, down []int
		for i := range 40 {
			up, down = append(up, i), append([]int{i}, down...)
		}
		a, b := runs(1, up), runs(2, down)
		assert.Equal(t, a, b)
		seen := map[time.Duration]bool{}
		for _, d := range a {
			assert.GreaterOrEqual(t, d, 5*time.Second)
			assert.LessOrEqual(t, d, 15*time.Second)
			seen[d] = true
		}
		assert.Greater(t, len(seen), 30, "run times still vary")
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	id := e.submit(input(1))

	cases := []struct {
		name string
		auth string
		want int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"token prefix", "Bearer " + testToken[:5], http.StatusUnauthorized},
		{"basic scheme", "Basic " + testToken, http.StatusUnauthorized},
		{"bare token", testToken, http.StatusUnauthorized},
		{"lowercase scheme", "bearer " + testToken, http.StatusOK},
		{"right token", "Bearer " + testToken, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, ep := range []struct{ method, path string }{
				{http.MethodGet, "/v1/requests/" + id + "/status"},
				{http.MethodGet, "/v1/requests/" + id + "/result"},
			} {
				code, m, _, err := e.callWith(ep.method, ep.path, nil, tc.auth)
				require.NoError(t, err)
				assert.Equal(t, tc.want, code, ep.path)
				if tc.want == http.StatusUnauthorized {
					assert.Equal(t, map[string]any{"error_code": 400004.0, "error_message": "invalid or missing API token"}, m)
				}
			}
		})
	}

	before := e.srv.Counters()
	code, m, _, err := e.callWith(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(2), "Bearer nope")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.NotContains(t, m["error_message"], testToken)
	code, _, _, err = e.callWith(http.MethodPost, "/v1/requests/"+id+"/cancel", nil, "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code)

	after := e.srv.Counters()
	assert.Equal(t, before.Submits, after.Submits, "no job without auth")
	assert.Equal(t, before.SubmitsRejected+1, after.SubmitsRejected)
	assert.EqualValues(t, 5*2+2, after.Unauthorized)
	assert.Len(t, e.srv.Jobs(), 1)
}

func TestGeneratedToken(t *testing.T) {
	t.Parallel()
	a, err := sim.New(sim.Config{})
	require.NoError(t, err)
	b, err := sim.New(sim.Config{})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(a.Token(), "sim_"))
	assert.Len(t, a.Token(), 36)
	assert.NotEqual(t, a.Token(), b.Token())

	c, err := sim.New(sim.Config{Token: "mine"})
	require.NoError(t, err)
	assert.Equal(t, "mine", c.Token())
}

func TestSubmitValidation(t *testing.T) {
	t.Parallel()
	with := func(k string, v any) map[string]any {
		in := input(1)
		in[k] = v
		return in
	}
	without := func(k string) map[string]any {
		in := input(1)
		delete(in, k)
		return in
	}
	cases := []struct {
		name  string
		model string
		body  any
		code  int
		msg   string // substring of error_message
	}{
		{name: "minimal", body: map[string]any{"image": "http://x.example/a.png"}, code: 200},
		{name: "all fields", body: map[string]any{
			"image": "https://x.example/a.png", "promptText": "p", "negativePrompt": "n",
			"seed": -7, "resolution": "1080p", "duration": 10,
		}, code: 200},
		{name: "nulls are absent", body: with("seed", nil), code: 200},
		{name: "prompt at limit", body: with("promptText", strings.Repeat("é", 2000)), code: 200},

		{name: "bad JSON", body: `{"image":`, code: 400, msg: "invalid JSON"},
		{name: "empty body", body: ``, code: 400, msg: "empty"},
		{name: "array", body: `[1,2]`, code: 400, msg: "must be a JSON object"},
		{name: "null body", body: `null`, code: 400, msg: "must be a JSON object"},
		{name: "trailing data", body: `{"image":"https://x.example/a.png"} {}`, code: 400, msg: "after the input object"},
		{name: "too large", body: `{"promptText":"` + strings.Repeat("a", 2<<20) + `"}`, code: 413, msg: "exceeds 1048576 bytes"},
		{name: "image inline", body: with("image", "data:image/png;base64,iVBORw0KGgo="), code: 200},
		{name: "image inline jpeg", body: with("image", "data:image/jpeg;name=a.jpg;base64,/9j/4AAQ"), code: 200},
		{name: "image inline not base64", body: with("image", "data:image/png,rawbytes"), code: 422, msg: "data:image/…;base64 URI"},
		{name: "image inline not an image", body: with("image", "data:text/plain;base64,aGk="), code: 422, msg: "data:image/…;base64 URI"},
		{name: "unknown model", model: "pika/pika-2-1/text-to-video", body: input(1), code: 400, msg: "model not found"},

		{name: "image missing", body: without("image"), code: 422, msg: "image is required"},
		{name: "image relative", body: with("image", "/a.png"), code: 422, msg: "image must be an absolute http or https URL or a data:image/…;base64 URI"},
		{name: "image ftp", body: with("image", "ftp://x.example/a.png"), code: 422, msg: "absolute http or https URL"},
		{name: "image not string", body: with("image", 3), code: 422, msg: "image must be a string"},
		{name: "prompt too long", body: with("promptText", strings.Repeat("a", 2001)), code: 422, msg: "promptText must be at most 2000 characters"},
		{name: "prompt not string", body: with("promptText", true), code: 422, msg: "promptText must be a string"},
		{name: "negative prompt not string", body: with("negativePrompt", 1), code: 422, msg: "negativePrompt must be a string"},
		{name: "resolution", body: with("resolution", "4k"), code: 422, msg: "resolution must be one of 720p, 1080p"},
		{name: "duration 7", body: with("duration", 7), code: 422, msg: "duration must be one of 5, 10"},
		{name: "duration string", body: with("duration", "5"), code: 422, msg: "duration must be one of 5, 10"},
		{name: "duration float", body: with("duration", 5.5), code: 422, msg: "duration must be one of 5, 10"},
		{name: "seed float", body: with("seed", 1.5), code: 422, msg: "seed must be an integer"},
		{name: "seed string", body: with("seed", "1"), code: 422, msg: "seed must be an integer"},
		{name: "unknown field", body: with("motion", 3), code: 422, msg: `unknown field "motion"`},
		{name: "several problems", body: map[string]any{"resolution": "8k", "x": 1}, code: 422,
			msg: `unknown field "x"; image is required; resolution must be one of 720p, 1080p`},
	}
	e := setup(t, sim.Config{MaxBodyBytes: 1 << 20})
	var accepted, rejected int64
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			model := sim.DefaultModel
			if tc.model != "" {
				model = tc.model
			}
			code, m, _ := e.mustCall(http.MethodPost, "/v1/models/"+model, tc.body)
			require.Equal(t, tc.code, code, "body %v", m)
			if code == http.StatusOK {
				accepted++
				return
			}
			rejected++
			msg, ok := m["error_message"].(string)
			require.True(t, ok, "error_message is a string in %v", m)
			assert.Contains(t, msg, tc.msg)
		})
	}
	c := e.srv.Counters()
	assert.Equal(t, accepted, c.Submits)
	assert.Equal(t, rejected, c.SubmitsRejected)
}

func TestUnknownRequest(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	for _, ep := range []struct{ method, path string }{
		{http.MethodGet, "/v1/requests/nope/status"},
		{http.MethodGet, "/v1/requests/nope/result"},
		{http.MethodPost, "/v1/requests/nope/cancel"},
	} {
		code, m, _ := e.mustCall(ep.method, ep.path, nil)
		assert.Equal(t, http.StatusNotFound, code, ep.path)
		assert.Equal(t, map[string]any{"error_code": 404001.0, "error_message": "request not found"}, m, ep.path)
	}
	code, _, _ := e.mustCall(http.MethodGet, "/v2/whatever", nil)
	assert.Equal(t, http.StatusNotFound, code)
}

func TestCancel(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Slots: 1, RunTime: 10 * time.Second})
	a, b, c := e.submit(input(1)), e.submit(input(2)), e.submit(input(3))
	require.Equal(t, []string{"in_progress", "in_queue#0", "in_queue#1"}, e.briefStates(a, b, c))
	cancel := func(id string) map[string]any {
		t.Helper()
		code, m, _ := e.mustCall(http.MethodPost, "/v1/requests/"+id+"/cancel", nil)
		require.Equal(t, http.StatusAccepted, code, "cancel answered %v", m)
		return m
	}

	// The documented example, odd status included: the outcome decides.
	accepted := map[string]any{"request_id": b, "status": "completed", "outcome": "cancelled"}
	assert.Equal(t, accepted, cancel(b))
	assert.Equal(t, []string{"in_progress", "cancelled", "in_queue#0"}, e.briefStates(a, b, c))
	assert.Equal(t, accepted, cancel(b), "asking again says cancelled again")

	assert.Equal(t, map[string]any{"request_id": a, "status": "in_progress", "outcome": "not_cancellable"}, cancel(a),
		"a running job goes on: a no-op")

	e.clock.Advance(10 * time.Second)
	assert.Equal(t, []string{"completed", "cancelled", "in_progress"}, e.briefStates(a, b, c))
	assert.Equal(t, map[string]any{"request_id": b, "status": "cancelled"}, e.result(b))
	jb := e.job(b)
	assert.True(t, jb.StartedAt.IsZero(), "a cancelled job never runs")
	assert.Equal(t, t0, jb.FinishedAt)
	assert.Equal(t, t0.Add(10*time.Second), e.job(c).StartedAt)
	assert.Equal(t, map[string]any{"request_id": a, "status": "completed", "outcome": "not_cancellable"}, cancel(a),
		"a finished job: a no-op")

	e.clock.Advance(10 * time.Second)
	assert.Equal(t, "not_cancellable", cancel(c)["outcome"], "finished")

	cnt := e.srv.Counters()
	assert.EqualValues(t, 1, cnt.Cancelled, "jobs cancelled")
	assert.EqualValues(t, 2, cnt.CancelsAccepted)
	assert.EqualValues(t, 3, cnt.CancelsNotCancellable)
	assert.EqualValues(t, 5, cnt.CancelCalls)
	assert.EqualValues(t, 2, cnt.Completed)
}

func TestFault429(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		retryAfter time.Duration
		want       string
	}{
		{"default", 0, "1"},
		{"below a second", 200 * time.Millisecond, "1"},
		{"rounded up", 1500 * time.Millisecond, "2"},
		{"whole", 3 * time.Second, "3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, sim.Config{Faults: sim.Faults{Rate429: 1, RetryAfter: tc.retryAfter}})
			code, m, h := e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(1))
			assert.Equal(t, http.StatusTooManyRequests, code)
			assert.Equal(t, tc.want, h.Get("Retry-After"))
			assert.IsType(t, "", m["error_message"])
			code, _, h = e.mustCall(http.MethodGet, "/v1/requests/x/status", nil)
			assert.Equal(t, http.StatusTooManyRequests, code)
			assert.Equal(t, tc.want, h.Get("Retry-After"))

			c := e.srv.Counters()
			assert.EqualValues(t, 2, c.RateLimited)
			assert.EqualValues(t, 1, c.SubmitsRejected)
			assert.Zero(t, c.Submits)
		})
	}
}

func TestFault5xx(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Faults: sim.Faults{Rate5xx: 1}})
	codes := map[int]int{}
	for i := range 30 {
		code, m, _ := e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(i))
		codes[code]++
		assert.IsType(t, "", m["error_message"])
	}
	assert.Len(t, codes, 3, "500, 502 and 503 all appear: %v", codes)
	for code := range codes {
		assert.Contains(t, []int{500, 502, 503}, code)
	}
	c := e.srv.Counters()
	assert.EqualValues(t, 30, c.ServerErrors)
	assert.Zero(t, c.Submits)
	assert.Zero(t, c.SubmitsRejected, "5xx is not a rejection")
	assert.Empty(t, e.srv.Jobs())
}

// TestFault5xxSparesSubmits: with Spare5xxSubmits every submit is taken,
// while the other calls still get their 5xx (the demo's recoverable
// faults: a 5xx on a submit is an uncertain outcome a run may hold).
func TestFault5xxSparesSubmits(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Faults: sim.Faults{Rate5xx: 1, Spare5xxSubmits: true}})
	var id string
	for i := range 10 {
		code, m, _ := e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(i))
		require.Equal(t, http.StatusOK, code, m)
		id, _ = m["request_id"].(string)
	}
	code, _, _ := e.mustCall(http.MethodGet, "/v1/requests/"+id+"/status", nil)
	assert.GreaterOrEqual(t, code, 500)
	c := e.srv.Counters()
	assert.EqualValues(t, 10, c.Submits)
	assert.EqualValues(t, 1, c.ServerErrors)
}

func TestFaultDrop(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Faults: sim.Faults{RateDrop: 1}})
	_, _, _, err := e.call(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(1))
	require.Error(t, err)
	c := e.srv.Counters()
	assert.EqualValues(t, 1, c.Dropped)
	assert.EqualValues(t, 1, c.Requests)
	assert.Zero(t, c.Submits)
	assert.Empty(t, e.srv.Jobs(), "dropped before processing")
}

func TestFaultLostResponse(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Faults: sim.Faults{RateLostResponse: 1}})
	_, _, _, err := e.call(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(1))
	require.Error(t, err, "the response is lost")
	c := e.srv.Counters()
	assert.EqualValues(t, 1, c.Submits, "the job was created and is paid for")
	assert.EqualValues(t, 1, c.LostResponses)
	jobs := e.srv.Jobs()
	require.Len(t, jobs, 1)
	assert.Equal(t, sim.StateInProgress, jobs[0].State)
	e.clock.Advance(time.Minute)
	assert.EqualValues(t, 1, e.srv.Counters().Completed)
}

func TestFaultTruncate(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Faults: sim.Faults{RateTruncate: 1}})
	id := e.completeJob(1)
	want, _ := e.srv.Video(id, 0)
	u := e.videoURL(id)

	resp, part, err := e.download(u, nil)
	require.Error(t, err, "cut off")
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, len(want), resp.ContentLength)
	require.NotEmpty(t, part)
	require.Less(t, len(part), len(want))
	assert.Equal(t, want[:len(part)], part)

	resp, rest, err := e.download(u, map[string]string{"Range": "bytes=" + strconv.Itoa(len(part)) + "-"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, "bytes "+strconv.Itoa(len(part))+"-"+strconv.Itoa(len(want)-1)+"/"+strconv.Itoa(len(want)),
		resp.Header.Get("Content-Range"))
	assert.Equal(t, want, append(part, rest...))

	_, full, err := e.download(u, nil)
	require.NoError(t, err)
	assert.Equal(t, want, full, "only the first download is cut")

	c := e.srv.Counters()
	assert.EqualValues(t, 3, c.Downloads)
	assert.EqualValues(t, 1, c.DownloadsTruncated)
}

func TestFaultExpire(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Faults: sim.Faults{RateExpire: 1}})
	id := e.completeJob(1)
	want, _ := e.srv.Video(id, 0)

	resp, body, err := e.download(e.videoURL(id), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, string(body), "Request has expired")

	resp, body, err = e.download(e.videoURL(id), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a fresh result gives a working URL")
	assert.Equal(t, want, body)

	c := e.srv.Counters()
	assert.EqualValues(t, 1, c.DownloadsExpired)
	assert.EqualValues(t, 1, c.Downloads)
}

func TestURLTTL(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{URLTTL: time.Minute})
	id := e.completeJob(1)
	u := e.videoURL(id)
	assert.Contains(t, u, "expires=")

	e.clock.Advance(time.Minute)
	resp, _, err := e.download(u, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "valid until its expiry")

	e.clock.Advance(time.Second)
	resp, _, err = e.download(u, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	resp, _, err = e.download(e.videoURL(id), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, 1, e.srv.Counters().DownloadsExpired)
}

func TestBadSignature(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{URLTTL: time.Minute})
	id := e.completeJob(1)
	u := e.videoURL(id)
	other := e.completeJob(2)

	for name, bad := range map[string]string{
		"signature changed": u[:len(u)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", u[len(u)-1])+1)%16]),
		"expiry extended":   strings.Replace(u, "expires=", "expires=9", 1),
		"other job":         strings.Replace(u, id, other, 1),
		"other output":      strings.Replace(u, "/0.mp4", "/1.mp4", 1),
		"no signature":      u[:strings.Index(u, "?")],
	} {
		resp, body, err := e.download(bad, nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, name)
		assert.Contains(t, string(body), "SignatureDoesNotMatch", name)
	}
	assert.Zero(t, e.srv.Counters().Downloads)
}

func TestFaultFail(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Slots: 20, Faults: sim.Faults{RateFail: 1}})
	var ids []string
	for i := range 20 {
		ids = append(ids, e.submit(input(i)))
	}
	e.clock.Advance(time.Minute)
	shapes := map[string]int{}
	for _, id := range ids {
		res := e.result(id)
		assert.NotContains(t, res, "output")
		var msg string
		switch v := res["error"].(type) {
		case string:
			msg = v
			assert.Equal(t, "completed", res["status"])
			shapes["completed with error string"]++
		case map[string]any:
			msg, _ = v["message"].(string)
			assert.Equal(t, "failed", res["status"])
			shapes["failed with error object"]++
		default:
			t.Fatalf("no error in %v", res)
		}
		assert.True(t, strings.HasPrefix(msg, "generation failed: "), msg)
		assert.Equal(t, res["status"], e.status(id)["status"], "status and result agree")
		assert.Equal(t, sim.StateFailed, e.job(id).State)
		assert.Equal(t, msg, e.job(id).Error)
		_, exists := e.srv.Video(id, 0)
		assert.False(t, exists)
	}
	assert.Len(t, shapes, 2, "both shapes appear: %v", shapes)
	c := e.srv.Counters()
	assert.EqualValues(t, 20, c.Failed)
	assert.Zero(t, c.Completed)
}

func TestFaultNeverFinish(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Slots: 1, MaxConcurrentSubmits: 3, Faults: sim.Faults{RateNeverFinish: 1}})
	a, b := e.submit(input(1)), e.submit(input(2))
	e.clock.Advance(24 * time.Hour)
	assert.Equal(t, []string{"in_progress", "in_queue#0"}, e.briefStates(a, b),
		"a stuck job keeps its slot")
	assert.Equal(t, map[string]any{"request_id": a, "status": "in_progress"}, e.result(a))

	code, m, _ := e.mustCall(http.MethodPost, "/v1/requests/"+a+"/cancel", nil)
	assert.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, "not_cancellable", m["outcome"], "running jobs cannot be cancelled")
	code, m, _ = e.mustCall(http.MethodPost, "/v1/requests/"+b+"/cancel", nil)
	assert.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, "cancelled", m["outcome"], "queued ones can")

	e.submit(input(3))
	e.submit(input(4))
	code, _, _ = e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(5))
	assert.Equal(t, http.StatusTooManyRequests, code, "the stuck job counts against the account's limit")

	ja := e.job(a)
	assert.True(t, ja.IsStuck)
	assert.Equal(t, t0, ja.StartedAt)
	assert.True(t, ja.FinishedAt.IsZero())
	c := e.srv.Counters()
	assert.Zero(t, c.Completed+c.Failed)
}

func TestFault402(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Faults: sim.Faults{Rate402: 1}})
	code, m, _ := e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(1))
	assert.Equal(t, http.StatusPaymentRequired, code)
	assert.Equal(t, map[string]any{"error_code": 400002.0, "error_message": "insufficient credits"}, m)
	c := e.srv.Counters()
	assert.Zero(t, c.Submits)
	assert.EqualValues(t, 1, c.SubmitsRejected)
}

func TestMaxConcurrentSubmits(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Slots: 1, MaxConcurrentSubmits: 2, RunTime: 10 * time.Second})
	e.submit(input(1))
	e.submit(input(2))
	code, m, h := e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(3))
	assert.Equal(t, http.StatusTooManyRequests, code)
	assert.Equal(t, "1", h.Get("Retry-After"))
	assert.Equal(t, map[string]any{"error_message": "too many concurrent requests"}, m)

	e.clock.Advance(10 * time.Second)
	e.submit(input(3))

	c := e.srv.Counters()
	assert.EqualValues(t, 3, c.Submits)
	assert.EqualValues(t, 1, c.SubmitsRejected)
	assert.EqualValues(t, 1, c.RateLimited)
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{RateLimit: 10}) // burst 1, one token per 100ms
	code, _, _ := e.mustCall(http.MethodGet, "/v1/requests/x/status", nil)
	assert.Equal(t, http.StatusNotFound, code)
	code, _, h := e.mustCall(http.MethodGet, "/v1/requests/x/status", nil)
	assert.Equal(t, http.StatusTooManyRequests, code)
	assert.Equal(t, "1", h.Get("Retry-After"))

	e.clock.Advance(100 * time.Millisecond)
	code, _, _ = e.mustCall(http.MethodGet, "/v1/requests/x/status", nil)
	assert.Equal(t, http.StatusNotFound, code)
	assert.EqualValues(t, 1, e.srv.Counters().RateLimited)
}

func TestDuplicateSubmits(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	a := e.submit(`{"image":"https://x.example/a.png","seed":1,"promptText":"cat"}`)
	b := e.submit("{ \"promptText\": \"\\u0063at\",\n \"seed\": 1, \"image\": \"https://x.example/a.png\" }")
	e.submit(`{"image":"https://x.example/a.png","seed":2,"promptText":"cat"}`)
	assert.NotEqual(t, a, b, "a duplicate is still a new, paid job")

	c := e.srv.Counters()
	assert.EqualValues(t, 3, c.Submits)
	assert.EqualValues(t, 1, c.DuplicateSubmits)
	jobs := e.srv.Jobs()
	assert.JSONEq(t, `{"image":"https://x.example/a.png","promptText":"cat","seed":1}`, string(jobs[0].Input))
	assert.Equal(t, jobs[0].Input, jobs[1].Input)
}

func TestFileRequestsWithAuth(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	id := e.completeJob(1)
	u := e.videoURL(id)

	_, _, err := e.download(u, nil)
	require.NoError(t, err)
	assert.Zero(t, e.srv.Counters().FileRequestsWithAuth)

	resp, _, err := e.download(u, map[string]string{"Authorization": "Bearer " + testToken})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	_, _, err = e.download(e.files.URL+"/elsewhere", map[string]string{"Authorization": "Bearer x"})
	require.NoError(t, err)
	assert.EqualValues(t, 2, e.srv.Counters().FileRequestsWithAuth)
}

func TestRanges(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{VideoSize: 1000})
	id := e.completeJob(1)
	want, _ := e.srv.Video(id, 0)
	require.Len(t, want, 1000)
	u := e.videoURL(id)

	cases := []struct {
		rng          string
		code         int
		body         []byte
		contentRange string
	}{
		{"bytes=10-19", 206, want[10:20], "bytes 10-19/1000"},
		{"bytes=990-", 206, want[990:], "bytes 990-999/1000"},
		{"bytes=990-5000", 206, want[990:], "bytes 990-999/1000"},
		{"bytes=-5", 206, want[995:], "bytes 995-999/1000"},
		{"bytes=0-", 206, want, "bytes 0-999/1000"},
		{"bytes=1000-", 416, nil, "bytes */1000"},
		{"bytes=5-1", 200, want, ""},
		{"bytes=0-1,5-6", 200, want, ""},
		{"items=1-2", 200, want, ""},
	}
	for _, tc := range cases {
		resp, body, err := e.download(u, map[string]string{"Range": tc.rng})
		require.NoError(t, err)
		assert.Equal(t, tc.code, resp.StatusCode, tc.rng)
		assert.Equal(t, tc.contentRange, resp.Header.Get("Content-Range"), tc.rng)
		if tc.body != nil {
			assert.Equal(t, tc.body, body, tc.rng)
		}
	}

	req, err := http.NewRequest(http.MethodHead, u, nil)
	require.NoError(t, err)
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, 1000, resp.ContentLength)
	assert.EqualValues(t, len(cases)-1, e.srv.Counters().Downloads, "HEAD and 416 are not downloads")
}

func TestVideoBytes(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Slots: 2})
	a, b := e.submit(input(1)), e.submit(input(2))
	_, ok := e.srv.Video(a, 0)
	assert.False(t, ok, "not yet completed")
	e.clock.Advance(time.Minute)

	va, ok := e.srv.Video(a, 0)
	require.True(t, ok)
	vb, _ := e.srv.Video(b, 0)
	assert.Len(t, va, sim.DefaultVideoSize)
	assert.Equal(t, []byte("\x00\x00\x00\x18ftypisom"), va[:12])
	assert.Equal(t, "mdat", string(va[28:32]))
	assert.Equal(t, va[:32], vb[:32])
	assert.NotEqual(t, va, vb)
	again, _ := e.srv.Video(a, 0)
	assert.Equal(t, va, again)

	_, ok = e.srv.Video(a, 1)
	assert.False(t, ok, "one output per job")
	_, ok = e.srv.Video("nope", 0)
	assert.False(t, ok)
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	run := func(seed int64) ([]string, [][]byte) {
		e := setup(t, sim.Config{Seed: seed, IDPrefix: "0123456789ab", RunJitter: 0.3, Faults: sim.Faults{RateFail: 0.3}})
		var ids []string
		for i := range 10 {
			ids = append(ids, e.submit(input(i)))
		}
		e.clock.Advance(time.Hour)
		var out [][]byte
		for _, j := range e.srv.Jobs() {
			v, _ := e.srv.Video(j.RequestID, 0)
			out = append(out, append([]byte(j.State+" "+j.FinishedAt.String()+" "), v...))
		}
		return ids, out
	}
	ids1, out1 := run(7)
	ids2, out2 := run(7)
	ids3, out3 := run(8)
	assert.Equal(t, ids1, ids2)
	assert.True(t, equalAll(out1, out2), "same seed, same jobs and bytes")
	assert.NotEqual(t, ids1, ids3)
	assert.False(t, equalAll(out1, out3))
}

func equalAll(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestCountersEndpoint(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	e.submit(input(1))
	resp, err := e.client.Get(e.api.URL + "/_sim/counters") // no token
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var c sim.Counters
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&c))
	assert.Equal(t, e.srv.Counters(), c)
	assert.EqualValues(t, 1, c.Requests, "/_sim is not an API request")
	assert.EqualValues(t, 1, c.Submits)
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]sim.Config{
		"negative slots":      {Slots: -1},
		"negative queue time": {QueueTime: -1},
		"negative run time":   {RunTime: -1},
		"jitter above 1":      {RunJitter: 1.5},
		"tiny video":          {VideoSize: 10},
		"negative limit":      {MaxConcurrentSubmits: -1},
		"negative rate limit": {RateLimit: -1},
		"negative ttl":        {URLTTL: -1},
		"negative retry":      {Faults: sim.Faults{RetryAfter: -1}},
		"rate above 1":        {Faults: sim.Faults{Rate5xx: 1.01}},
		"negative rate":       {Faults: sim.Faults{RateDrop: -0.1}},
		"gateway rate":        {Faults: sim.Faults{RateGatewayAfterCreate: 2}},
		"odd status rate":     {Faults: sim.Faults{RateOddStatus: -1}},
		"timestamps":          {Timestamps: "us"},
		"error shape":         {ErrorShape: "xml"},
		"bad token status":    {BadTokenStatus: 403},
		"negative balance":    {BalanceJobs: -1},
		"short id prefix":     {IDPrefix: "abc"},
		"upper id prefix":     {IDPrefix: "ABCDEF012345"},
		"negative body limit": {MaxBodyBytes: -1},
		"negative fetch wait": {FetchTimeout: -1},
		"catalog file fields": {FetchInputs: true, Catalog: []sim.CatalogModel{{ID: "m", InputSchema: []byte(`{"type":"object","properties":{"a":{"type":"string","pattern":"("}}}`)}}},
	}
	for name, cfg := range cases {
		_, err := sim.New(cfg)
		assert.True(t, errors.Is(err, sim.ErrInvalidConfig), "%s: %v", name, err)
		_, err = sim.Start(cfg, "127.0.0.1:0")
		assert.True(t, errors.Is(err, sim.ErrInvalidConfig), "%s: %v", name, err)
	}
}

func TestStartClose(t *testing.T) {
	t.Parallel()
	clock := clocktest.New(t0)
	r, err := sim.Start(sim.Config{Token: testToken, Now: clock.Now}, "127.0.0.1:0")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(r.APIURL, "http://127.0.0.1:"), r.APIURL)
	assert.True(t, strings.HasPrefix(r.FilesURL, "http://127.0.0.1:"), r.FilesURL)
	assert.NotEqual(t, r.APIURL, r.FilesURL)

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	do := func(method, url string, body string) (*http.Response, []byte) {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		require.NoError(t, err)
		if strings.HasPrefix(url, r.APIURL) {
			req.Header.Set("Authorization", "Bearer "+testToken)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, b
	}

	resp, body := do(http.MethodPost, r.APIURL+"/v1/models/"+sim.DefaultModel, `{"image":"https://x.example/a.png"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var sub struct {
		RequestID string `json:"request_id"`
		ResultURL string `json:"result_url"`
	}
	require.NoError(t, json.Unmarshal(body, &sub))
	assert.Equal(t, r.APIURL+"/v1/requests/"+sub.RequestID+"/result", sub.ResultURL)

	clock.Advance(time.Minute)
	_, body = do(http.MethodGet, sub.ResultURL, "")
	var res struct {
		Output struct{ Video string }
	}
	require.NoError(t, json.Unmarshal(body, &res))
	assert.True(t, strings.HasPrefix(res.Output.Video, r.FilesURL+"/files/"), res.Output.Video)
	resp, body = do(http.MethodGet, res.Output.Video, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	want, _ := r.Video(sub.RequestID, 0)
	assert.Equal(t, want, body)

	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "safe to call twice")
	_, err = client.Get(r.APIURL + "/_sim/counters")
	assert.Error(t, err, "closed")
}

func TestStartUnspecifiedHost(t *testing.T) {
	t.Parallel()
	clock := clocktest.New(t0)
	r, err := sim.Start(sim.Config{Token: testToken, Now: clock.Now}, ":0")
	if err != nil {
		t.Skipf("cannot listen on all interfaces: %v", err)
	}
	defer func() { require.NoError(t, r.Close()) }()
	assert.True(t, strings.HasPrefix(r.APIURL, "http://127.0.0.1:"), r.APIURL)

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	// The files URL follows the host name the client used.
	apiURL := strings.Replace(r.APIURL, "127.0.0.1", "localhost", 1)
	filesURL := strings.Replace(r.FilesURL, "127.0.0.1", "localhost", 1)
	req, err := http.NewRequest(http.MethodPost, apiURL+"/v1/models/"+sim.DefaultModel,
		strings.NewReader(`{"image":"https://x.example/a.png"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := client.Do(req)
	require.NoError(t, err)
	var sub struct {
		ResultURL string `json:"result_url"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&sub))
	resp.Body.Close()

	clock.Advance(time.Minute)
	req, err = http.NewRequest(http.MethodGet, sub.ResultURL, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err = client.Do(req)
	require.NoError(t, err)
	var res struct {
		Output struct{ Video string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
	resp.Body.Close()
	assert.True(t, strings.HasPrefix(res.Output.Video, filesURL+"/files/"), res.Output.Video)
}

// TestJobsOverHTTP: a simulator in another process shows its jobs'
// timelines, as Jobs does, so that a bench can read its clock.
func TestJobsOverHTTP(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	id := e.submit(input(1))
	e.clock.Advance(time.Minute)
	resp, err := e.client.Get(e.api.URL + "/_sim/jobs")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got []sim.JobInfo
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Len(t, got, 1)
	assert.Equal(t, id, got[0].RequestID)
	assert.Equal(t, e.job(id).FinishedAt.UTC(), got[0].FinishedAt.UTC())
}
