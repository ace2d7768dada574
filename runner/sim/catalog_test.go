package sim_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// rawGet sends an authenticated GET and returns the status and exact body.
func (e *env) rawGet(path string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.api.URL+path, nil)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, strings.TrimSuffix(string(b), "\n")
}

const (
	pikaBrief  = `{"model_id":"pika/pika-2-2/image-to-video","display_name":"Pika 2.2 Image to Video","categories":["image-to-video"],"kind":"model","base_price_usd":0.0088,"price_unit":"second"}`
	videoBrief = `{"model_id":"sim/motion-lite/text-to-video","display_name":"Motion Lite Text to Video","categories":["text-to-video"],"kind":"model","base_price_usd":0.02,"price_unit":"second"}`
	imageBrief = `{"model_id":"sim/still-lite/text-to-image","display_name":"Still Lite Text to Image","categories":["text-to-image"],"kind":"model","base_price_usd":0.003,"price_unit":"output"}`
	imageFull  = `{"model_id":"sim/still-lite/text-to-image","display_name":"Still Lite Text to Image","categories":["text-to-image"],"kind":"model","base_price_usd":0.003,"price_unit":"output","input_schema":{"type":"object","required":["prompt"],"additionalProperties":false,"properties":{"prompt":{"type":"string","maxLength":2000},"num_inference_steps":{"type":"integer","minimum":1,"maximum":50,"default":28},"guidance_scale":{"type":"number","minimum":0,"maximum":20,"default":3.5},"enable_safety_checker":{"type":"boolean","default":true},"output_format":{"type":"string","enum":["png","jpeg","webp"],"default":"png"},"seed":{"type":"integer","minimum":0,"maximum":2147483647}}}}`
)

func TestCatalogBodies(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	for _, tc := range []struct {
		name, path string
		code       int
		body       string
	}{
		{"list", "/v1/models", 200,
			`{"models":[` + pikaBrief + `,` + videoBrief + `,` + imageBrief + `],"total":3,"limit":20,"offset":0}`},
		{"search by name", "/v1/models?search=STILL", 200, `{"models":[` + imageBrief + `],"total":1,"limit":20,"offset":0}`},
		{"search by id", "/v1/models?search=pika-2-2", 200, `{"models":[` + pikaBrief + `],"total":1,"limit":20,"offset":0}`},
		{"category", "/v1/models?category=text-to-video", 200, `{"models":[` + videoBrief + `],"total":1,"limit":20,"offset":0}`},
		{"nothing matches", "/v1/models?search=nope", 200, `{"models":[],"total":0,"limit":20,"offset":0}`},
		{"page", "/v1/models?limit=1&offset=1", 200, `{"models":[` + videoBrief + `],"total":3,"limit":1,"offset":1}`},
		{"with schema", "/v1/models?category=text-to-image&include_schema=true", 200,
			`{"models":[` + imageFull + `],"total":1,"limit":20,"offset":0}`},
		{"bad limit", "/v1/models?limit=x", 400, `{"error_message":"limit must be a non-negative integer"}`},
		{"one model", "/v1/models/sim/still-lite/text-to-image", 200, imageFull},
		{"unknown model", "/v1/models/pika/nope", 404, `{"error_code":404001,"error_message":"model not found: pika/nope"}`},
		{"balance, unlimited", "/prod/v2/balance", 200, `{"balance_usd":1000000,"currency":"USD"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.rawGet(tc.path)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.body, body)
		})
	}
	c := e.srv.Counters()
	assert.EqualValues(t, 10, c.CatalogCalls)
	assert.EqualValues(t, 1, c.BalanceCalls)
	assert.Zero(t, c.Requests, "catalog and balance calls stay out of the paid endpoints' count")

	code, m, _, err := e.callWith(http.MethodGet, "/prod/v2/balance", nil, "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.EqualValues(t, sim.CodeBadToken, m["error_code"])
	code, _, _, err = e.callWith(http.MethodGet, "/v1/models", nil, "Bearer wrong")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code)
}

func TestCatalogSubmitsFollowEachSchema(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	for _, tc := range []struct {
		name, model string
		input       string
		code        int
		msg         string
	}{
		{"image all types", sim.TextToImageModel,
			`{"prompt":"a fox","num_inference_steps":30,"guidance_scale":4.5,"enable_safety_checker":false,"output_format":"webp","seed":7}`, 200, ""},
		{"image prompt only", sim.TextToImageModel, `{"prompt":"a fox"}`, 200, ""},
		{"image wrong types", sim.TextToImageModel,
			`{"prompt":"a fox","num_inference_steps":2.5,"guidance_scale":"high","enable_safety_checker":"yes","output_format":"gif"}`, 422,
			"enable_safety_checker must be a boolean; guidance_scale must be a number; num_inference_steps must be an integer; output_format must be one of png, jpeg, webp"},
		{"image bounds", sim.TextToImageModel, `{"prompt":"a fox","num_inference_steps":51,"guidance_scale":-1}`, 422,
			"guidance_scale must be at least 0; num_inference_steps must be at most 50"},
		{"image missing and unknown", sim.TextToImageModel, `{"image":"https://x/y.png"}`, 422, `prompt is required; unknown field "image"`},
		{"video", sim.TextToVideoModel, `{"prompt":"waves","duration":8,"aspect_ratio":"9:16"}`, 200, ""},
		{"video bad enum", sim.TextToVideoModel, `{"prompt":"waves","aspect_ratio":"4:3"}`, 422, "aspect_ratio must be one of 16:9, 9:16, 1:1"},
		{"pika keeps its rules", sim.DefaultModel, `{"prompt":"waves"}`, 422, `unknown field "prompt"; image is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, m, _ := e.mustCall(http.MethodPost, "/v1/models/"+tc.model, tc.input)
			assert.Equal(t, tc.code, code, "%v", m)
			if tc.msg != "" {
				assert.Equal(t, tc.msg, m["error_message"])
			}
		})
	}
}

// TestBalanceInDollars: each accepted submit takes its price from the
// balance; the submit the balance cannot pay is refused with 400002; the
// balance endpoint and the admin endpoint agree.
func TestBalanceInDollars(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{BalanceUSD: 0.25})
	body := func() string { _, b := e.rawGet("/prod/v2/balance"); return b }
	assert.Equal(t, `{"balance_usd":0.25,"currency":"USD"}`, body())

	// 8 seconds at $0.02/second.
	code, m, _ := e.mustCall(http.MethodPost, "/v1/models/"+sim.TextToVideoModel, `{"prompt":"waves","duration":8}`)
	require.Equal(t, http.StatusOK, code, "%v", m)
	assert.Equal(t, `{"balance_usd":0.09,"currency":"USD"}`, body())
	// The schema's default duration, 5 seconds: $0.10 is more than is left.
	code, m, _ = e.mustCall(http.MethodPost, "/v1/models/"+sim.TextToVideoModel, `{"prompt":"waves"}`)
	assert.Equal(t, http.StatusPaymentRequired, code)
	assert.Equal(t, map[string]any{"error_code": 400002.0, "error_message": "insufficient balance: top up the account to submit more jobs"}, m)
	e.submit(input(1)) // 5 seconds (the default) at $0.0088: $0.044
	e.submit(input(2)) // $0.044
	assert.Equal(t, `{"balance_usd":0.002,"currency":"USD"}`, body())
	code, _, _ = e.mustCall(http.MethodPost, "/v1/models/"+sim.DefaultModel, input(3))
	assert.Equal(t, http.StatusPaymentRequired, code)

	_, admin := e.rawGet("/_sim/balance")
	assert.Equal(t, `{"limited":true,"jobs_left":0,"balance_usd":0.002}`, admin)
	e.srv.AddBalanceUSD(0.042)
	usd, limited := e.srv.BalanceUSD()
	assert.True(t, limited)
	assert.InDelta(t, 0.044, usd, 1e-9)
	jobs, _ := e.srv.Balance()
	assert.EqualValues(t, 1, jobs)
	e.submit(input(3))
	assert.Equal(t, `{"balance_usd":0,"currency":"USD"}`, body())

	c := e.srv.Counters()
	assert.EqualValues(t, 4, c.Submits)
	assert.EqualValues(t, 2, c.BalanceRefusals)
	assert.InDelta(t, 0.16+3*0.044, c.SpentUSD, 1e-9)
}

func TestBalanceConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []sim.Config{{BalanceUSD: -1}, {BalanceUSD: 1, BalanceJobs: 1}} {
		_, err := sim.New(cfg)
		assert.ErrorIs(t, err, sim.ErrInvalidConfig)
	}
}

func TestResultCostOnRequest(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{})
	id := e.submit(input(1))
	code, m, _ := e.mustCall(http.MethodGet, "/v1/requests/"+id+"/result?include_cost=true", nil)
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, m, "cost", "no cost before the job is done")
	e.clock.Advance(time.Minute)
	code, m, _ = e.mustCall(http.MethodGet, "/v1/requests/"+id+"/result?include_cost=true", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 0.044, m["cost"])
	_, m, _ = e.mustCall(http.MethodGet, "/v1/requests/"+id+"/result", nil)
	assert.NotContains(t, m, "cost", "only when asked")
}

// TestVideoPricedPerSecond: pika, a video model, is priced per second of
// its duration as the catalog prices video: a 10-second clip costs twice a
// 5-second one, and the balance in jobs counts jobs of the default
// duration.
func TestVideoPricedPerSecond(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{BalanceJobs: 3})
	long := input(1)
	long["duration"] = 10
	short := input(2)
	short["duration"] = 5
	ids := []string{e.submit(long), e.submit(short)}
	e.clock.Advance(time.Hour)
	var costs []any
	for _, id := range ids {
		_, m, _ := e.mustCall(http.MethodGet, "/v1/requests/"+id+"/result?include_cost=true", nil)
		costs = append(costs, m["cost"])
	}
	assert.Equal(t, []any{0.088, 0.044}, costs)
	usd, _ := e.srv.BalanceUSD()
	assert.InDelta(t, 3*0.044-0.088-0.044, usd, 1e-9)
	assert.InDelta(t, sim.PikaPricePerSecondUSD*5, sim.DefaultJobPriceUSD, 1e-12, "a job of the balance is a 5-second clip")
}

// TestResultCostLate: with LateCost, the first result read of a completed
// job has no cost and every later one has it.
func TestResultCostLate(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{LateCost: true})
	id := e.submit(input(1))
	e.clock.Advance(time.Minute)
	var costs []any
	for range 3 {
		code, m, _ := e.mustCall(http.MethodGet, "/v1/requests/"+id+"/result?include_cost=true", nil)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "succeeded", m["status"])
		costs = append(costs, m["cost"])
	}
	assert.Equal(t, []any{nil, 0.044, 0.044}, costs)
}

func TestResultWithoutCost(t *testing.T) {
	t.Parallel()
	e := setup(t, sim.Config{NoCost: true})
	id := e.submit(input(1))
	e.clock.Advance(time.Minute)
	code, m, _ := e.mustCall(http.MethodGet, "/v1/requests/"+id+"/result?include_cost=true", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "succeeded", m["status"])
	assert.NotContains(t, m, "cost")
}
