package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
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

	"github.com/pikabatch/pikabatch/runner/sim"
)

const t2iModel = "acme/text-to-image"

// t2iSchemaFile is a text-to-image model's input schema, given offline.
const t2iSchemaFile = `{
  "type": "object",
  "properties": {
    "prompt":   {"type": "string", "maxLength": 200},
    "steps":    {"type": "integer", "minimum": 1, "maximum": 50},
    "guidance": {"type": "number", "minimum": 0, "maximum": 20},
    "tiling":   {"type": "boolean"},
    "size":     {"type": "string", "enum": ["512x512", "1024x1024"]}
  },
  "required": ["prompt"]
}`

// t2iSim is the simulator serving t2iModel. The simulator checks every
// body against Pika's schema (until its catalog serves other models, issue
// 11 item 7), so this front records each text-to-image body as sent and
// hands the simulator a Pika body in its place: the run, polls and
// downloads are the simulator's own.
type t2iSim struct {
	*sim.Server
	APIURL string
	mu     sync.Mutex
	bodies []map[string]any
}

func startT2ISim(t *testing.T) *t2iSim {
	t.Helper()
	s, err := sim.New(sim.Config{Token: testToken, Model: t2iModel, RunTime: 20 * time.Millisecond, Slots: 8})
	require.NoError(t, err)
	ts := &t2iSim{Server: s}
	api := s.APIHandler()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/models/"+t2iModel {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			var body map[string]any
			if err := dec.Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			ts.mu.Lock()
			ts.bodies = append(ts.bodies, body)
			ts.mu.Unlock()
			pika := []byte(`{"image":"https://img.example.com/stand-in.png"}`)
			r.Body = io.NopCloser(bytes.NewReader(pika))
			r.ContentLength = int64(len(pika))
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	files := httptest.NewServer(s.FilesHandler())
	t.Cleanup(files.Close)
	s.SetFilesBase(files.URL)
	ts.APIURL = front.URL
	return ts
}

// TestSchemaFileOffline: with --schema, validate and run check a model
// pikabatch has no schema for, send each row's cells as the schema's types,
// render every row against the simulator, and export the schema's fields as
// columns.
func TestSchemaFileOffline(t *testing.T) {
	srv := startT2ISim(t)
	dir := t.TempDir()
	schema := writeFile(t, filepath.Join(dir, "t2i.json"), t2iSchemaFile)
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,prompt,steps,guidance,tiling,size\n"+
		"fox,a red fox,20,7.5,true,1024x1024\n"+
		"owl,an owl,,0.25,FALSE,\n"+
		"cat,a cat,1,,,512x512\n")

	code, stdout, stderr := invoke(t, nil, "validate", "--manifest", m, "--schema", schema)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "3 rows, valid")

	out := filepath.Join(dir, "out")
	code, _, stderr = invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out,
		"--model", t2iModel, "--schema", schema, "--results-format", "csv", "--progress", "off")
	require.Equal(t, exitOK, code, stderr)

	srv.mu.Lock()
	bodies := srv.bodies
	srv.mu.Unlock()
	require.Len(t, bodies, 3, "one submit per row")
	byPrompt := map[string]map[string]any{}
	for _, b := range bodies {
		byPrompt[b["prompt"].(string)] = b
	}
	assert.Equal(t, map[string]any{"prompt": "a red fox", "steps": json.Number("20"), "guidance": json.Number("7.5"),
		"tiling": true, "size": "1024x1024"}, byPrompt["a red fox"])
	assert.Equal(t, map[string]any{"prompt": "an owl", "guidance": json.Number("0.25"), "tiling": false}, byPrompt["an owl"],
		"blank cells are left out: the model's defaults apply")
	assert.Equal(t, map[string]any{"prompt": "a cat", "steps": json.Number("1"), "size": "512x512"}, byPrompt["a cat"])
	for _, key := range []string{"fox", "owl", "cat"} {
		_, err := os.Stat(filepath.Join(out, key+".mp4"))
		assert.NoError(t, err, key)
	}

	f, err := os.Open(filepath.Join(out, "results.csv"))
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 4)
	assert.Equal(t, []string{"key", "line", "prompt", "steps", "guidance", "tiling", "size", "state"}, recs[0][:8],
		"the export's columns are the schema's fields")
	for _, rec := range recs[1:] {
		if rec[0] == "fox" {
			assert.Equal(t, []string{"fox", "2", "a red fox", "20", "7.5", "true", "1024x1024", "done"}, rec[:8])
		}
	}
}

// TestSchemaFileErrors: a row against the --schema file's rules is refused
// with every problem named by file, line and field, before any submit.
func TestSchemaFileErrors(t *testing.T) {
	srv := startT2ISim(t)
	dir := t.TempDir()
	schema := writeFile(t, filepath.Join(dir, "t2i.json"), t2iSchemaFile)
	m := writeFile(t, filepath.Join(dir, "m.csv"), "prompt,steps,guidance,tiling,size\n"+
		"ok,3,1,true,512x512\n"+
		"bad,99,x,maybe,2x2\n")
	code, _, stderr := invoke(t, nil, "validate", "--manifest", m, "--schema", schema)
	assert.Equal(t, exitDataErr, code)
	for _, want := range []string{
		"m.csv:3: field steps: 99 is more than the maximum 50",
		`m.csv:3: field guidance: "x" is not a number`,
		`m.csv:3: field tiling: "maybe" is not a boolean`,
		`m.csv:3: field size: "2x2" is not one of 512x512, 1024x1024`,
	} {
		assert.Contains(t, stderr, want)
	}

	code, _, _ = invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", filepath.Join(dir, "out"),
		"--model", t2iModel, "--schema", schema, "--progress", "off")
	assert.Equal(t, exitDataErr, code)
	assert.Zero(t, srv.Counters().Submits, "zero submits on any error")

	bad := writeFile(t, filepath.Join(dir, "bad.json"), `{"type":"object","properties":{"a":{"type":"strng"}}}`)
	code, _, stderr = invoke(t, nil, "validate", "--manifest", m, "--schema", bad)
	assert.Equal(t, exitUsage, code, stderr)
	assert.True(t, strings.Contains(stderr, "--schema"), stderr)
}

// TestMapAndKeepColumns: a dataset is rendered as it is: --map reads the
// model's fields from its columns, --keep-columns carries the others into
// results.jsonl and results.csv, and validate shows the mapping.
func TestMapAndKeepColumns(t *testing.T) {
	srv := startLoopbackSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "data.csv"), "uid,url,caption,license,source\n"+
		"a1,https://img.example.com/a.png,a cat,CC-BY,web\n"+
		"a2,https://img.example.com/b.png,a dog,CC0,scan\n")
	flags := []string{"--map", "promptText=caption,image=url,id=uid", "--keep-columns", "license,source"}

	code, stdout, stderr := invoke(t, nil, append([]string{"validate", "--manifest", m}, flags...)...)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "mapping: id ← uid, image ← url, promptText ← caption")
	assert.Contains(t, stdout, "kept: license, source")

	code, _, stderr = invoke(t, nil, "validate", "--manifest", m, "--map", "promptText=caption,image=url,id=uid")
	assert.Equal(t, exitDataErr, code)
	assert.Contains(t, stderr, `unknown column "license"`)

	code, _, stderr = invoke(t, nil, "validate", "--manifest", m, "--map", "promtText=caption")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `did you mean "promptText"?`)

	out := filepath.Join(dir, "out")
	code, _, stderr = invoke(t, tokenEnv(srv.APIURL), append([]string{"run", "--manifest", m, "--out", out,
		"--results-format", "csv", "--progress", "off"}, flags...)...)
	require.Equal(t, exitOK, code, stderr)

	idx, err := os.ReadFile(filepath.Join(out, "results.jsonl"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(idx)), "\n")
	require.Len(t, lines, 2)
	var e struct {
		Key     string          `json:"key"`
		Input   json.RawMessage `json:"input"`
		Columns json.RawMessage `json:"columns"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &e))
	assert.Equal(t, "a1", e.Key)
	assert.JSONEq(t, `{"image":"https://img.example.com/a.png","promptText":"a cat"}`, string(e.Input))
	assert.JSONEq(t, `{"license":"CC-BY","source":"web"}`, string(e.Columns))

	f, err := os.Open(filepath.Join(out, "results.csv"))
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 3)
	h := recs[0]
	assert.Equal(t, []string{"license", "source"}, h[len(h)-2:], "kept columns come last")
	assert.Equal(t, []string{"CC0", "scan"}, recs[2][len(h)-2:])
	assert.Equal(t, "a dog", recs[2][3])
}

// TestCheckURLsEveryFileField: --check-urls probes every file input the
// schema has (format uri, or a name such as image or mask_url), not only
// Pika's image, and names the field when there are several.
func TestCheckURLsEveryFileField(t *testing.T) {
	host, requests := hostileImageHost(t)
	dir := t.TempDir()
	schema := writeFile(t, filepath.Join(dir, "inpaint.json"), `{"type":"object","properties":{
		"image":{"type":"string"},"mask_url":{"type":"string"},"ref":{"type":"string","format":"uri"},
		"prompt":{"type":"string"}},"required":["image","mask_url"]}`)
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,image,mask_url,ref,prompt\n"+
		"a,"+host.URL+"/a.png,"+host.URL+"/a-mask.png,,fill\n"+
		"b,"+host.URL+"/b.png,"+host.URL+"/b-mask.png,"+host.URL+"/b-ref.png,fill\n")
	code, stdout, stderr := invoke(t, nil, "validate", "--manifest", m, "--schema", schema, "--check-urls",
		"--check-rps", "1000")
	require.Equal(t, exitOK, code, stderr)
	assert.EqualValues(t, 5, requests.Load(), "every file input of every row, blank ones left out")
	for _, want := range []string{"a image", "a mask_url", "b image", "b mask_url", "b ref"} {
		assert.Contains(t, stdout, m+":"+map[bool]string{true: "2", false: "3"}[want[0] == 'a']+" "+want)
	}
	assert.Contains(t, stdout, "file URLs: 5 checked in 2 rows, 5 ok, 0 would fail\n", "URLs and rows each counted as what they are")

	// Two bad URLs of one row: one row would fail, not two.
	dead := "http://127.0.0.1:1"
	m = writeFile(t, filepath.Join(dir, "m2.csv"), "id,image,mask_url,ref,prompt\n"+
		"a,"+host.URL+"/a.png,"+host.URL+"/a-mask.png,,fill\n"+
		"c,"+dead+"/c.png,"+dead+"/c-mask.png,"+host.URL+"/c-ref.png,fill\n")
	code, stdout, stderr = invoke(t, nil, "validate", "--manifest", m, "--schema", schema, "--check-urls",
		"--check-rps", "1000")
	require.Equal(t, exitDataErr, code, stderr)
	assert.Contains(t, stdout, "file URLs: 5 checked in 2 rows, 3 ok, 2 would fail (1 row)\n")
	assert.True(t, strings.HasSuffix(stdout, m+": 2 rows, 1 would fail: their file URLs failed the check\n"), "%s", stdout)
	assert.Contains(t, stderr, "1 of 2 rows")

	// --json names the field of each verdict too.
	code, stdout, stderr = invoke(t, nil, "validate", "--manifest", m, "--schema", schema, "--check-urls",
		"--check-rps", "1000", "--json")
	require.Equal(t, exitDataErr, code, stderr)
	var v validateJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &v))
	require.Len(t, v.URLs, 5)
	assert.Equal(t, []string{"image", "mask_url"}, []string{v.URLs[0].Field, v.URLs[1].Field})
}

// TestCatalogSchema: a model the simulator's catalog serves is checked
// with the catalog's schema, with no --schema: typed values are sent, the
// schema is recorded in the state, and a row the catalog's schema refuses
// stops the run before any submit.
func TestCatalogSchema(t *testing.T) {
	srv := startLoopbackSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,prompt,num_inference_steps,guidance_scale,enable_safety_checker,output_format\n"+
		"fox,a red fox,20,7.5,false,webp\n"+
		"owl,an owl,,,,\n")
	out := filepath.Join(dir, "out")
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out,
		"--model", sim.TextToImageModel, "--progress", "off")
	require.Equal(t, exitOK, code, stderr)
	assert.EqualValues(t, 2, srv.Counters().Submits)
	idx, err := os.ReadFile(filepath.Join(out, "results.jsonl"))
	require.NoError(t, err)
	assert.Contains(t, string(idx), `"input":{"prompt":"a red fox","num_inference_steps":20,"guidance_scale":7.5,"enable_safety_checker":false,"output_format":"webp"}`)

	bad := writeFile(t, filepath.Join(dir, "bad.csv"), "prompt,num_inference_steps\na cat,99\n")
	code, _, stderr = invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", bad, "--out", filepath.Join(dir, "out2"),
		"--model", sim.TextToImageModel, "--progress", "off")
	assert.Equal(t, exitDataErr, code, stderr)
	assert.Contains(t, stderr, "bad.csv:2: field num_inference_steps: 99 is more than the maximum 50")
	assert.EqualValues(t, 2, srv.Counters().Submits, "nothing more was sent")
}

// TestValidateAndDryRunUseTheModelsSchema: validate --model and run
// --dry-run check a model without a built-in schema with the catalog's
// (or the one the state file recorded), never as Pika; an unknown model is
// a usage error and a catalog that cannot answer names --schema.
func TestValidateAndDryRunUseTheModelsSchema(t *testing.T) {
	s, err := sim.New(sim.Config{Token: testToken, RunTime: 20 * time.Millisecond, Slots: 8})
	require.NoError(t, err)
	var catalogDown atomic.Bool
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if catalogDown.Load() && strings.HasPrefix(r.URL.Path, "/v1/models") {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.APIHandler().ServeHTTP(w, r)
	}))
	t.Cleanup(apiSrv.Close)
	files := httptest.NewServer(s.FilesHandler())
	t.Cleanup(files.Close)
	s.SetFilesBase(files.URL)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,prompt,num_inference_steps\nfox,a red fox,20\n")
	bad := writeFile(t, filepath.Join(dir, "bad.csv"), "prompt,num_inference_steps\na cat,99\n")
	env := tokenEnv(apiSrv.URL)

	code, stdout, stderr := invoke(t, env, "validate", "--manifest", m, "--model", sim.TextToImageModel)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "1 row, valid")
	code, _, stderr = invoke(t, env, "validate", "--manifest", bad, "--model", sim.TextToImageModel)
	assert.Equal(t, exitDataErr, code, stderr)
	assert.Contains(t, stderr, "bad.csv:2: field num_inference_steps: 99 is more than the maximum 50")
	code, _, stderr = invoke(t, env, "validate", "--manifest", m, "--model", "org/unknown")
	assert.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "--schema FILE")

	// A dry run of a new batch reads the catalog's schema.
	out := filepath.Join(dir, "out")
	code, stdout, stderr = invoke(t, env, "run", "--manifest", m, "--out", out, "--model", sim.TextToImageModel, "--dry-run")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "1  new: would be submitted")
	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", out, "--model", sim.TextToImageModel, "--progress", "off")
	require.Equal(t, exitOK, code, stderr)

	// The catalog gone: validate names --schema (69); a dry run of the
	// batch uses the schema its state file recorded.
	catalogDown.Store(true)
	code, _, stderr = invoke(t, env, "validate", "--manifest", m, "--model", sim.TextToImageModel)
	assert.Equal(t, exitUnavailable, code, stderr)
	assert.Contains(t, stderr, "--schema FILE")
	code, stdout, stderr = invoke(t, env, "run", "--manifest", m, "--out", out, "--model", sim.TextToImageModel, "--dry-run")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "1  done: skipped")
	code, _, stderr = invoke(t, env, "run", "--manifest", bad, "--out", out, "--model", sim.TextToImageModel, "--dry-run")
	assert.Equal(t, exitDataErr, code, "checked with the recorded schema: %s", stderr)
}
