package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/sim"
)

func TestModelsCommand(t *testing.T) {
	srv := startSim(t, sim.Config{})
	env := tokenEnv(srv.APIURL)
	code, out, stderr := invoke(t, env, "models")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, ""+
		"MODEL                          PRICE           CATEGORIES      NAME\n"+
		"pika/pika-2-2/image-to-video   $0.0088/second  image-to-video  Pika 2.2 Image to Video\n"+
		"sim/motion-lite/text-to-video  $0.020/second   text-to-video   Motion Lite Text to Video\n"+
		"sim/still-lite/text-to-image   $0.003/output   text-to-image   Still Lite Text to Image\n"+
		"3 of 3 models; pikabatch models show ID lists a model's fields\n", out)

	code, out, _ = invoke(t, env, "models", "--category", "text-to-video", "--json")
	require.Equal(t, exitOK, code)
	assert.JSONEq(t, `{"version":1,"models":[{"model_id":"sim/motion-lite/text-to-video","display_name":"Motion Lite Text to Video",
		"categories":["text-to-video"],"base_price_usd":0.02,"price_unit":"second"}],"total":1}`, out)

	code, out, _ = invoke(t, env, "models", "--search", "nothing-like-it")
	require.Equal(t, exitOK, code)
	assert.Equal(t, "no model matches\n", out)

	code, out, stderr = invoke(t, env, "models", "show", sim.TextToImageModel)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, ""+
		"sim/still-lite/text-to-image (Still Lite Text to Image)\n"+
		"categories: text-to-image\n"+
		"price: $0.003/output\n"+
		"fields (the manifest's columns):\n"+
		"  NAME                   TYPE     REQUIRED  DEFAULT  ALLOWED\n"+
		"  prompt                 string   yes                \n"+
		"  num_inference_steps    integer            28       >= 1, <= 50\n"+
		"  guidance_scale         number             3.5      >= 0, <= 20\n"+
		"  enable_safety_checker  boolean            true     \n"+
		"  output_format          string             \"png\"    \"png\" \"jpeg\" \"webp\"\n"+
		"  seed                   integer                     >= 0, <= 2147483647\n", out)

	code, out, _ = invoke(t, env, "models", "show", "--json", sim.DefaultModel)
	require.Equal(t, exitOK, code)
	var shown struct {
		ID     string      `json:"model_id"`
		Fields []api.Field `json:"fields"`
		Schema any         `json:"input_schema"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &shown))
	assert.Equal(t, sim.DefaultModel, shown.ID)
	require.Len(t, shown.Fields, 6)
	assert.Equal(t, api.Field{Name: "image", Type: "string", Required: true, Format: "uri"}, shown.Fields[0], "required first")
	assert.Equal(t, "duration", shown.Fields[5].Name)
	assert.JSONEq(t, `5`, string(shown.Fields[5].Default))
	assert.NotNil(t, shown.Schema)

	code, _, stderr = invoke(t, env, "models", "show", "pika/nope")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `model "pika/nope": model not in the catalog`)
	code, _, _ = invoke(t, env, "models", "show")
	assert.Equal(t, exitUsage, code)

	down := tokenEnv("http://127.0.0.1:1")
	code, _, _ = invoke(t, down, "models")
	assert.Equal(t, exitUnavailable, code, "a catalog that does not answer is unavailable")
	assert.Equal(t, exitNoPerm, func() int {
		c, _, _ := invoke(t, map[string]string{"RUNCOMFY_API_BASE": srv.APIURL, "RUNCOMFY_API_TOKEN": "wrong-token"}, "models")
		return c
	}())
}

func TestBalanceCommand(t *testing.T) {
	srv := startSim(t, sim.Config{BalanceUSD: 2.5})
	env := tokenEnv(srv.APIURL)
	code, out, stderr := invoke(t, env, "balance")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "balance: $2.500 USD\n", out)
	code, out, _ = invoke(t, env, "balance", "--json")
	require.Equal(t, exitOK, code)
	assert.JSONEq(t, `{"version":1,"balance_usd":2.5,"currency":"USD"}`, out)

	// A balance host of its own, configured apart from the API.
	other := startSim(t, sim.Config{BalanceUSD: 7})
	env["RUNCOMFY_BALANCE_BASE"] = other.APIURL + "/prod/v2"
	code, out, _ = invoke(t, env, "balance")
	require.Equal(t, exitOK, code)
	assert.Equal(t, "balance: $7.000 USD\n", out)
	assert.EqualValues(t, 1, other.Counters().BalanceCalls)
	assert.EqualValues(t, 2, srv.Counters().BalanceCalls)

	code, _, stderr = invoke(t, env, "balance", "--balance-base", "http://balance.example.com")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "https")
}

func TestCostPreview(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,image,duration\n"+
		"a,https://img.example.com/a.jpg,5\nb,https://img.example.com/b.jpg,10\nc,https://img.example.com/c.jpg,\n")
	env := tokenEnv(srv.APIURL)
	schema := writeFile(t, filepath.Join(dir, "s.json"), `{"type":"object","properties":{"image":{"type":"string"},"duration":{"type":"integer"}}}`)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no price: says how to get one", nil,
			"estimated cost: unknown for 3 rows (no price)\n  (add --catalog to read the price from the API, or --price USD)\n"},
		// Per second of duration: 5 s, 10 s, and the schema's default 5 s.
		{"catalog, per second", []string{"--catalog"}, "estimated cost: $0.176 for 3 rows (base $0.0088/second)\n"},
		{"override", []string{"--price", "0.5"}, "estimated cost: $1.500 for 3 rows (--price $0.500/job)\n"},
		{"unknown model, schema given", []string{"--catalog", "--model", "pika/nope", "--schema", schema}, "estimated cost: unknown for 3 rows (no price)\n  (price: the catalog did not answer for pika/nope (model not in the catalog: model: HTTP 404 error_code 404001: model not found: pika/nope); set --price USD)\n"},
	} {
		t.Run("validate "+tc.name, func(t *testing.T) {
			code, out, stderr := invoke(t, env, append([]string{"validate", "--manifest", m}, tc.args...)...)
			require.Equal(t, exitOK, code, stderr)
			assert.Contains(t, out, tc.want)
		})
	}
	// Without --schema, a model the catalog does not know has no schema
	// to check the rows with.
	code, _, stderr := invoke(t, env, "validate", "--manifest", m, "--model", "pika/nope")
	assert.Equal(t, exitUsage, code, stderr)
	code, out, _ := invoke(t, env, "validate", "--manifest", m, "--catalog", "--json")
	require.Equal(t, exitOK, code)
	var rep struct {
		Rows int
		Cost costJSON `json:"estimated_cost"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.Equal(t, costJSON{USD: 0.176, Rows: 3, Basis: "base $0.0088/second", IsEstimate: true}, rep.Cost)

	code, out, stderr = invoke(t, env, "run", "--manifest", m, "--out", filepath.Join(dir, "out"), "--dry-run", "--catalog")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, out, "at most 3 paid submits\nestimated cost: $0.176 for 3 rows (base $0.0088/second)\n")
	assert.Zero(t, srv.Counters().Requests, "a preview submits nothing")
}

// TestCostPreviewPerSecond: a per-second model prices each row by its
// duration, and the schema's default for a row without one.
func TestCostPreviewPerSecond(t *testing.T) {
	t.Parallel()
	row := func(d int) func(string) (any, bool) {
		return func(n string) (any, bool) {
			if n == "duration" && d > 0 {
				return d, true
			}
			return nil, false
		}
	}
	base := 0.02
	schema := json.RawMessage(`{"properties":{"duration":{"type":"integer","default":5}}}`)
	p := money.PricerFor(apiModel(&base, "second", schema), 0)
	var tot priceTotal
	for _, d := range []int{8, 10, 0} {
		tot.Add(p, row(d))
	}
	assert.Equal(t, "estimated cost: $0.460 for 3 rows (base $0.020/second)", money.CostLine(tot, p))
}

type priceTotal = money.Total

func apiModel(base *float64, unit string, schema json.RawMessage) api.Model {
	return api.Model{BasePriceUSD: base, PriceUnit: unit, InputSchema: schema}
}
