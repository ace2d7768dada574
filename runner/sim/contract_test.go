package sim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// Tests of RunComfy's documented contract (its Model API docs) and
// of the adversarial switches where the docs are silent.

func TestResultDocumentedShape(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                string
		timestamps          string
		created, finishedAt any // nil: the field is absent
	}{
		{"default is whole seconds", "", "2026-03-01T12:00:00Z", "2026-03-01T12:00:10Z"},
		{"seconds truncate", sim.TimestampsSeconds, "2026-03-01T12:00:00Z", "2026-03-01T12:00:10Z"},
		{"milliseconds", sim.TimestampsMillis, "2026-03-01T12:00:00.750Z", "2026-03-01T12:00:10.750Z"},
		{"none", sim.TimestampsNone, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, sim.Config{Timestamps: tc.timestamps, RunTime: 10 * time.Second})
			e.clock.Advance(750 * time.Millisecond)
			id := e.submit(input(1))
			e.clock.Advance(time.Minute)
			assert.Equal(t, "completed", e.status(id)["status"], "the status endpoint says completed")

			res := e.result(id)
			out, ok := res["output"].(map[string]any)
			require.True(t, ok, "output in %v", res)
			want := map[string]any{
				"request_id": id,
				"status":     "succeeded",
				"output":     map[string]any{"video": out["video"]},
			}
			if tc.created != nil {
				want["created_at"] = tc.created
				want["finished_at"] = tc.finishedAt
			}
			assert.Equal(t, want, res)
			assert.True(t, strings.HasPrefix(out["video"].(string), e.files.URL+"/files/"+id+"/0.mp4?"))
		})
	}
}

func TestResultBeforeTheEnd(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Slots: 1})
	a, b := e.submit(input(1)), e.submit(input(2))
	assert.Equal(t, map[string]any{"request_id": a, "status": "in_progress"}, e.result(a))
	assert.Equal(t, map[string]any{"request_id": b, "status": "in_queue"}, e.result(b), "no output, no timestamps")
}

// errorCase is one error answer, with its body in the default shape.
type errorCase struct {
	name    string
	do      func(e *env) (int, map[string]any)
	status  int
	code    float64 // 0: no error_code
	message string
	detail  string // the message_detail shape's detail
}

func errorCases() []errorCase {
	post := func(path string, body any, auth string) func(e *env) (int, map[string]any) {
		return func(e *env) (int, map[string]any) {
			code, m, _, err := e.callWith(http.MethodPost, path, body, auth)
			require.NoError(e.t, err)
			return code, m
		}
	}
	get := func(path string) func(e *env) (int, map[string]any) {
		return func(e *env) (int, map[string]any) {
			code, m, _ := e.mustCall(http.MethodGet, path, nil)
			return code, m
		}
	}
	const foreign = "fedcba98-7654-4321-8765-43210fedcba9"
	model := "/v1/models/" + sim.DefaultModel
	return []errorCase{
		{"unknown model", post("/v1/models/pika/other", input(1), "Bearer "+testToken),
			400, 400001, "model not found: pika/other", "InvalidResourceIdentifier"},
		{"bad token", post(model, input(1), "Bearer nope"),
			401, 400004, "invalid or missing API token", "UserAccountError"},
		{"unknown request", get("/v1/requests/nope/status"),
			404, 404001, "request not found", "ResourceNotFound"},
		{"unknown request on result", get("/v1/requests/nope/result"),
			404, 404001, "request not found", "ResourceNotFound"},
		{"unknown request on cancel", post("/v1/requests/nope/cancel", nil, "Bearer "+testToken),
			404, 404001, "request not found", "ResourceNotFound"},
		{"another simulator's request is unknown", get("/v1/requests/" + foreign + "/result"),
			404, 404001, "request not found", "ResourceNotFound"},
		{"another account's request", func(e *env) (int, map[string]any) {
			id := e.submit(input(1))
			require.True(e.t, e.srv.Disown(id))
			code, m, _ := e.mustCall(http.MethodGet, "/v1/requests/"+id+"/status", nil)
			return code, m
		}, 403, 403001, "request belongs to another account", "PermissionDeniedError"},
		// The documented validation code; its page names no error class.
		{"invalid input", post(model, map[string]any{"image": 3}, "Bearer "+testToken),
			422, 422001, "image must be a string", "Unprocessable Entity"},
	}
}

func TestErrorShapes(t *testing.T) {
	t.Parallel()
	for _, shape := range []string{"", sim.ShapeErrorMessage, sim.ShapeMessageDetail, sim.ShapeNested} {
		t.Run("shape "+shape, func(t *testing.T) {
			t.Parallel()
			e := setup(t, sim.Config{ErrorShape: shape})
			for _, tc := range errorCases() {
				code, m := tc.do(e)
				assert.Equal(t, tc.status, code, tc.name)
				var want map[string]any
				switch shape {
				case sim.ShapeMessageDetail:
					want = map[string]any{"message": tc.message, "detail": tc.detail}
					if tc.code != 0 {
						want["error_code"] = tc.code
					}
				case sim.ShapeNested:
					inner := map[string]any{"message": tc.message}
					if tc.code != 0 {
						inner["code"] = tc.code
					}
					want = map[string]any{"error": inner}
				default:
					want = map[string]any{"error_message": tc.message}
					if tc.code != 0 {
						want["error_code"] = tc.code
					}
				}
				assert.Equal(t, want, m, tc.name)
			}
			c := e.srv.Counters()
			assert.EqualValues(t, 1, c.UnknownModel)
			assert.EqualValues(t, 1, c.Unauthorized)
			assert.EqualValues(t, 4, c.NotFound)
			assert.EqualValues(t, 1, c.OtherAccount)
			assert.EqualValues(t, 3, c.SubmitsRejected)
			assert.EqualValues(t, 1, c.Submits)
		})
	}
}

func TestErrorShapeMixedRotates(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{ErrorShape: sim.ShapeMixed})
	var got []map[string]any
	for range 4 {
		code, m, _ := e.mustCall(http.MethodGet, "/v1/requests/nope/status", nil)
		require.Equal(t, http.StatusNotFound, code)
		got = append(got, m)
	}
	assert.Equal(t, []map[string]any{
		{"error_code": 404001.0, "error_message": "request not found"},
		{"error_code": 404001.0, "message": "request not found", "detail": "ResourceNotFound"},
		{"error": map[string]any{"code": 404001.0, "message": "request not found"}},
		{"error_code": 404001.0, "error_message": "request not found"},
	}, got)
}

func TestBadTokenStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		set, want int
	}{{0, 401}, {401, 401}, {400, 400}} {
		e := setup(t, sim.Config{BadTokenStatus: tc.set})
		for _, auth := range []string{"", "Bearer nope"} {
			code, m, _, err := e.callWith(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(1), auth)
			require.NoError(t, err)
			assert.Equal(t, tc.want, code, "set %d", tc.set)
			assert.Equal(t, map[string]any{"error_code": 400004.0, "error_message": "invalid or missing API token"}, m)
		}
		c := e.srv.Counters()
		assert.EqualValues(t, 2, c.Unauthorized)
		assert.EqualValues(t, 2, c.SubmitsRejected)
		assert.Zero(t, c.Submits)
	}
}

func TestExpireAndDisown(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	a, b := e.submit(input(1)), e.submit(input(2))
	require.True(t, e.srv.Expire(a))
	require.True(t, e.srv.Disown(b))
	assert.False(t, e.srv.Expire("nope"))
	for _, ep := range []struct{ method, suffix string }{
		{http.MethodGet, "/status"}, {http.MethodGet, "/result"}, {http.MethodPost, "/cancel"},
	} {
		code, m, _ := e.mustCall(ep.method, "/v1/requests/"+a+ep.suffix, nil)
		assert.Equal(t, http.StatusNotFound, code, ep.suffix)
		assert.Equal(t, map[string]any{"error_code": 404001.0, "error_message": "request not found"}, m)
		code, m, _ = e.mustCall(ep.method, "/v1/requests/"+b+ep.suffix, nil)
		assert.Equal(t, http.StatusForbidden, code, ep.suffix)
		assert.Equal(t, map[string]any{"error_code": 403001.0, "error_message": "request belongs to another account"}, m)
	}
	c := e.srv.Counters()
	assert.EqualValues(t, 3, c.NotFound)
	assert.EqualValues(t, 3, c.OtherAccount)
	assert.Zero(t, c.CancelsAccepted+c.CancelsNotCancellable)

	// The same over the admin endpoints, for `pikabatch sim`.
	admin := func(path string) int {
		t.Helper()
		resp, err := e.client.Post(e.api.URL+path, "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	x, y := e.submit(input(3)), e.submit(input(4))
	assert.Equal(t, http.StatusNoContent, admin("/_sim/requests/"+x+"/expire"))
	assert.Equal(t, http.StatusNoContent, admin("/_sim/requests/"+y+"/disown"))
	assert.Equal(t, http.StatusNotFound, admin("/_sim/requests/nope/expire"))
	code, _, _ := e.mustCall(http.MethodGet, "/v1/requests/"+x+"/status", nil)
	assert.Equal(t, http.StatusNotFound, code)
	code, _, _ = e.mustCall(http.MethodGet, "/v1/requests/"+y+"/status", nil)
	assert.Equal(t, http.StatusForbidden, code)
}

func TestBalanceJobs(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{BalanceJobs: 2, Slots: 1})
	refused := func() {
		t.Helper()
		code, m, _ := e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(9))
		// 402: the only answer RunComfy's own ComfyUI nodes read as an
		// empty wallet.
		assert.Equal(t, http.StatusPaymentRequired, code)
		assert.Equal(t, map[string]any{
			"error_code":    400002.0,
			"error_message": "insufficient balance: top up the account to submit more jobs",
		}, m)
	}
	balance := func(method, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, e.api.URL+"/_sim/balance", strings.NewReader(body))
		require.NoError(t, err)
		resp, err := e.client.Do(req) // no token, as /_sim/counters
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return resp.StatusCode, m
	}

	e.submit(input(1))
	e.submit(input(2))
	refused()
	refused()
	jobs, limited := e.srv.Balance()
	assert.True(t, limited)
	assert.Zero(t, jobs)
	code, m := balance(http.MethodGet, "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{"limited": true, "jobs_left": 0.0, "balance_usd": 0.0}, m)

	// Topped up while it runs, over HTTP.
	code, m = balance(http.MethodPost, `{"add_jobs": 1}`)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{"limited": true, "jobs_left": 1.0, "balance_usd": 0.044}, m)
	e.submit(input(3))
	refused()

	for _, bad := range []string{``, `{}`, `{"add_jobs": 1, "jobs": 2}`, `{"top": 1}`, `{"add_jobs": "1"}`} {
		code, m = balance(http.MethodPost, bad)
		assert.Equal(t, http.StatusBadRequest, code, bad)
		assert.Contains(t, m["error_message"], `{"add_jobs": N}`, bad)
	}

	code, m = balance(http.MethodPost, `{"jobs": -1}`)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{"limited": false, "jobs_left": 0.0, "balance_usd": 0.0}, m)
	e.submit(input(4))

	c := e.srv.Counters()
	assert.EqualValues(t, 4, c.Submits)
	assert.EqualValues(t, 3, c.BalanceRefusals)
	assert.EqualValues(t, 3, c.SubmitsRejected)
	assert.EqualValues(t, 2, c.BalanceTopUps)
	assert.Zero(t, c.DuplicateSubmits, "a refusal creates nothing")
}

func TestBalanceEmptyAndPaidFaults(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	e.srv.SetBalanceJobs(0)
	code, m, _ := e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(1))
	assert.Equal(t, http.StatusPaymentRequired, code)
	assert.Equal(t, 400002.0, m["error_code"])

	// Jobs created behind a lost answer or a gateway error are paid for.
	assert.EqualValues(t, 2, e.srv.AddBalanceJobs(2))
	for _, f := range []sim.Faults{{RateLostResponse: 1}, {RateGatewayAfterCreate: 1}} {
		e := setup(t, sim.Config{BalanceJobs: 1, Faults: f})
		_, _, _, _ = e.call(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(1))
		jobs, _ := e.srv.Balance()
		assert.Zero(t, jobs, "%+v", f)
		assert.EqualValues(t, 1, e.srv.Counters().Submits)
	}
}

// TestBalanceStatus400: an empty account can answer HTTP 400 instead of
// 402, still with error_code 400002, for clients that must read the code
// whatever the status.
func TestBalanceStatus400(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{BalanceStatus: http.StatusBadRequest})
	e.srv.SetBalanceJobs(0)
	code, m, _ := e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(1))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, 400002.0, m["error_code"])
	for _, status := range []int{401, 403, 500} {
		_, err := sim.New(sim.Config{BalanceStatus: status})
		assert.ErrorIs(t, err, sim.ErrInvalidConfig, "%d", status)
	}
}

func TestFaultGatewayAfterCreate(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Slots: 30, Faults: sim.Faults{RateGatewayAfterCreate: 1}})
	codes := map[int]int{}
	for i := range 30 {
		req, err := http.NewRequest(http.MethodPost, e.api.URL+"/v1/models/"+sim.DefaultModel,
			strings.NewReader(`{"image":"https://x.example/a.png","seed":`+string(rune('0'+i%10))+`}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := e.client.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		codes[resp.StatusCode]++
		assert.Equal(t, "text/html", resp.Header.Get("Content-Type"), "a gateway's page, not the API's JSON")
		assert.Contains(t, string(body), "<h1>"+http.StatusText(resp.StatusCode)+"</h1>")
	}
	assert.Equal(t, 30, codes[502]+codes[504], "%v", codes)
	assert.NotZero(t, codes[502])
	assert.NotZero(t, codes[504])

	c := e.srv.Counters()
	assert.EqualValues(t, 30, c.Submits, "every job was created")
	assert.EqualValues(t, 30, c.GatewayAfterCreate)
	assert.EqualValues(t, 20, c.DuplicateSubmits, "10 distinct inputs")
	assert.Zero(t, c.ServerErrors)
	assert.Zero(t, c.SubmitsRejected)
	e.clock.Advance(time.Minute)
	assert.EqualValues(t, 30, e.srv.Counters().Completed)
}

// TestFaultOddStatus: the odd words are by default exactly those RunComfy's
// ComfyUI nodes take for a job still running; "queued", which aborts them,
// only when asked for.
func TestFaultOddStatus(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Slots: 1, Faults: sim.Faults{RateOddStatus: 1}})
	running, queued := e.submit(input(1)), e.submit(input(2))
	seen := map[string]bool{}
	for range 20 {
		st := e.status(running)
		assert.Contains(t, []string{"starting", "processing"}, st["status"])
		seen[st["status"].(string)] = true
		st = e.status(queued)
		assert.Contains(t, []string{"pending", "waiting"}, st["status"])
		assert.Equal(t, 0.0, st["queue_position"], "the position is still there")
		seen[st["status"].(string)] = true
		res := e.result(running)
		assert.Contains(t, []string{"starting", "processing"}, res["status"])
	}
	assert.Len(t, seen, 4, "every odd word appears: %v", seen)

	e.clock.Advance(time.Hour)
	assert.Equal(t, "completed", e.status(running)["status"], "final words stay documented")
	assert.Equal(t, "succeeded", e.result(running)["status"])
	assert.EqualValues(t, 60, e.srv.Counters().OddStatusWords)
}

func TestFaultOddStatusQueued(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{Slots: 1, Faults: sim.Faults{RateOddStatus: 1, OddQueued: true}})
	_, queued := e.submit(input(1)), e.submit(input(2))
	seen := map[string]bool{}
	for range 30 {
		st := e.status(queued)
		assert.Contains(t, []string{"pending", "waiting", "queued"}, st["status"])
		seen[st["status"].(string)] = true
	}
	assert.Len(t, seen, 3, "queued appears among the others: %v", seen)
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	ids := func(cfg sim.Config) (string, []string) {
		e := setup(t, cfg)
		var out []string
		for i := range 5 {
			out = append(out, e.submit(input(i)))
		}
		return e.srv.IDPrefix(), out
	}
	p1, a := ids(sim.Config{Seed: 3})
	p2, b := ids(sim.Config{Seed: 3})
	assert.NotEqual(t, p1, p2, "a random prefix per simulator")
	for _, id := range a {
		assert.NotContains(t, b, id, "two simulators with one seed share no ID")
		assert.Equal(t, p1[:8]+"-"+p1[8:], id[:13])
	}

	// Deterministic when the prefix is given as well as the seed.
	p3, c := ids(sim.Config{Seed: 3, IDPrefix: "00000000beef"})
	_, d := ids(sim.Config{Seed: 3, IDPrefix: "00000000beef"})
	assert.Equal(t, "00000000beef", p3)
	assert.Equal(t, c, d)
	assert.True(t, strings.HasPrefix(c[0], "00000000-beef-4"), c[0])

	// The other simulator's IDs are unknown here.
	e := setup(t, sim.Config{Seed: 3})
	code, m, _ := e.mustCall(http.MethodGet, "/v1/requests/"+a[0]+"/status", nil)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Equal(t, 404001.0, m["error_code"])
}

func TestCountersJSONKeys(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	resp, err := e.client.Get(e.api.URL + "/_sim/counters")
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	for _, k := range []string{
		"cancels_accepted", "cancels_not_cancellable", "unauthorized", "unknown_model",
		"balance_refusals", "balance_top_ups", "not_found", "other_account",
		"gateway_after_create", "odd_status_words",
	} {
		assert.Contains(t, m, k)
	}
}
