package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// ledgerKeys are account.Ledger's keys: the batch's one account, in every
// output that tells how far along a batch is.
var ledgerKeys = []string{"rows", "done", "failed", "cancelled", "in_flight", "held", "not_submitted",
	"spend.reported_usd", "spend.reported_jobs", "spend.estimated_usd", "spend.estimated_jobs", "spend.unknown_jobs",
	"spend.budget_usd", "spend.budget_left_usd"}

// figureKeys are account.Figures' keys, in run --json at the top, in
// status's this_run and in the notify payload's summary.
var figureKeys = slices.Concat([]string{"rows", "submitted", "resent", "uncertain", "held", "completed", "downloaded", "failed",
	"cancelled", "fail_reasons.*", "skipped_done", "changed", "not_submitted", "left_in_flight", "polls", "download_retries",
	"url_refreshes", "account_jobs_at_once", "parked", "status_words.*", "final.*", "wall_ns", "orphans",
	"orphan_keys[]", "orphans_in_flight", "orphans_collected", "orphans_failed", "failed_before", "failed_before_keys[]",
	"bucket_copies.to", "bucket_copies.uploaded", "bucket_copies.present", "bucket_copies.bytes", "bucket_copies.waiting"},
	prefixed("account.", ledgerKeys))

var apiCallKeys = []string{"submit", "status", "result", "cancel", "retries", "rate_limited", "polls_rate_limited", "slowdowns"}

func prefixed(prefix string, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = prefix + k
	}
	return out
}

// jsonSchemas are the --json outputs' keys, as README.md's "JSON output"
// lists them: a.b is b inside object a, a[] an array's items, a.* a
// map's keys (states, reasons, outcomes…).
var jsonSchemas = map[string]struct {
	wire any
	keys []string
}{
	"run": {runJSON{}, slices.Concat([]string{"version"}, figureKeys, prefixed("api_calls.", apiCallKeys))},
	"run --dry-run": {planJSON{}, []string{"version", "rows", "new", "retry", "in_flight", "download", "resend", "held",
		"done", "failed", "changed", "changed_in_flight", "submits", "orphans", "orphans_in_flight",
		"estimated_cost.usd", "estimated_cost.max_usd", "estimated_cost.rows", "estimated_cost.unknown_rows",
		"estimated_cost.basis", "estimated_cost.is_estimate"}},
	"validate": {validateJSON{}, []string{"version", "rows", "by_resolution.*", "by_duration_s.*", "duplicate_rows",
		"urls[].line", "urls[].key", "urls[].field", "urls[].url", "urls[].ok", "urls[].status", "urls[].method", "urls[].content_type",
		"urls[].size", "urls[].problem",
		"estimated_cost.usd", "estimated_cost.max_usd", "estimated_cost.rows", "estimated_cost.unknown_rows",
		"estimated_cost.basis", "estimated_cost.is_estimate"}},
	"status": {statusJSON{}, slices.Concat([]string{"version", "jobs", "by_state.*",
		"batches[].state_file", "batches[].jobs", "batches[].by_state.*",
		"batches[].failures[].message", "batches[].failures[].count", "batches[].failures[].keys[]",
		"batches[].uncertain", "batches[].uncertain_keys[]",
		"batches[].oldest_active.key", "batches[].oldest_active.request_id", "batches[].oldest_active.state",
		"batches[].oldest_active.submitted_at", "batches[].oldest_active.age_ns",
		"batches[].orphans", "batches[].orphan_keys[]", "batches[].orphans_in_flight",
		"batches[].cost_usd", "batches[].cost_jobs", "batches[].no_cost_jobs",
		"batches[].estimated_cost_usd", "batches[].estimated_cost_jobs", "batches[].estimate_basis",
		"batches[].live.pid", "batches[].live.host", "batches[].live.started_at", "batches[].live.command",
		"batches[].live.rows", "batches[].live.finished", "batches[].live.done", "batches[].live.left",
		"batches[].live.in_progress", "batches[].live.jobs_per_minute", "batches[].live.eta_ns",
		"unreachable[].state_file", "unreachable[].error", "indexes[].index", "indexes[].jobs", "indexes[].by_state.*"},
		prefixed("account.", ledgerKeys), prefixed("batches[].account.", ledgerKeys), prefixed("indexes[].account.", ledgerKeys),
		prefixed("batches[].live.this_run.", figureKeys), prefixed("batches[].live.api_calls.", apiCallKeys))},
	"cancel": {cancelJSON{}, []string{"version", "results[].key", "results[].request_id", "results[].state",
		"results[].outcome", "results[].error", "counts.*"}},
	"verify": {verifyJSON{}, []string{"version", "jobs", "files", "ok", "bytes", "findings[].key", "findings[].path",
		"findings[].problem", "findings[].detail", "findings[].removed", "bucket_copies[].state_file", "bucket_copies[].to",
		"bucket_copies[].copies", "bucket_copies[].ok", "bucket_copies[].waiting", "bucket_copies[].skipped",
		"bucket_copies[].findings[].key", "bucket_copies[].findings[].path", "bucket_copies[].findings[].problem",
		"bucket_copies[].findings[].detail", "bucket_copies[].findings[].removed"}},
	"recover": {recoverJSON{}, []string{"version", "index", "index_written_at", "state_file", "jobs", "done", "refetch",
		"in_flight", "uncertain", "pending", "finished", "journaled", "damaged_kept_as"}},
	"bench": {benchJSON{}, []string{"version", "scenarios[].scenario", "scenarios[].setup", "scenarios[].figures[].name",
		"scenarios[].figures[].unit", "scenarios[].figures[].median", "scenarios[].figures[].runs[]",
		"scenarios[].figures[].target.at_most", "scenarios[].figures[].target.limit", "scenarios[].figures[].target.report_only"}},
	"models": {modelsJSON{}, []string{"version", "total", "models[].model_id", "models[].display_name",
		"models[].categories[]", "models[].base_price_usd", "models[].price_unit"}},
	"models show": {modelShowJSON{}, []string{"version", "model_id", "display_name", "categories[]", "base_price_usd",
		"price_unit", "fields[].name", "fields[].type", "fields[].required", "fields[].default", "fields[].enum[]",
		"fields[].minimum", "fields[].maximum", "fields[].format", "input_schema"}},
	"balance": {balanceJSON{}, []string{"version", "balance_usd", "currency"}},
	"notify-url payload": {notifyPayload{}, slices.Concat([]string{"version", "text", "outcome", "exit_code", "error", "host",
		"manifest", "state_file"}, prefixed("summary.", figureKeys), prefixed("api_calls.", apiCallKeys))},
}

// snakeKey is what every key of every output looks like.
var snakeKey = regexp.MustCompile(`^([a-z][a-z0-9_]*|\*)$`)

// TestJSONKeys: each wire type, every field set, encodes exactly the keys
// its schema lists, all snake_case, with "version" at the top.
func TestJSONKeys(t *testing.T) {
	t.Parallel()
	for name, s := range jsonSchemas {
		t.Run(name, func(t *testing.T) {
			v := reflect.New(reflect.TypeOf(s.wire)).Elem()
			fill(v)
			b, err := json.Marshal(v.Interface())
			require.NoError(t, err)
			var doc any
			require.NoError(t, json.Unmarshal(b, &doc))
			got := keyPaths("", doc)
			want := slices.Clone(s.keys)
			sort.Strings(want)
			assert.Equal(t, want, got)
			for _, p := range got {
				for _, k := range strings.Split(strings.ReplaceAll(p, "[]", ""), ".") {
					assert.Regexp(t, snakeKey, k, p)
				}
			}
		})
	}
}

// fill sets every field of v to a non-zero value, maps to one entry keyed
// "*" and slices to one item, so that no key is left out by omitempty.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1, 0)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.SetBytes([]byte(`{"x":1}`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k := reflect.New(v.Type().Key()).Elem()
		k.SetString("*")
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Interface:
		v.Set(reflect.ValueOf("x"))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Float64:
		v.SetFloat(1)
	}
}

// opaqueKeys hold a document of someone else's schema, passed on as it
// is: the model's input schema, whose keys are the model's field names.
var opaqueKeys = map[string]bool{"input_schema": true}

// keyPaths lists the key paths of a decoded JSON document, sorted: a
// map's keys as they are (fill's "*", or a real output's states).
func keyPaths(prefix string, doc any) []string {
	var out []string
	switch d := doc.(type) {
	case map[string]any:
		for k, v := range d {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			var sub []string
			if !opaqueKeys[k] {
				sub = keyPaths(p, v)
			}
			if len(sub) == 0 {
				out = append(out, p)
			}
			out = append(out, sub...)
		}
	case []any:
		for _, v := range d {
			sub := keyPaths(prefix+"[]", v)
			if len(sub) == 0 {
				out = append(out, prefix+"[]")
			}
			out = append(out, sub...)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// inSchema reports whether path, from a real output, is one of keys, or
// an empty array or object that one of them is inside: a map's key
// matches the schema's "*".
func inSchema(keys []string, path string) bool {
	parts := strings.Split(strings.ReplaceAll(path, "[]", ".[]"), ".")
	for _, k := range keys {
		kp := strings.Split(strings.ReplaceAll(k, "[]", ".[]"), ".")
		if len(kp) < len(parts) {
			continue
		}
		ok := true
		for i := range parts {
			if kp[i] != parts[i] && kp[i] != "*" {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// TestJSONOutputs runs each command with --json against a batch on the
// simulator: every output is an object with "version": 1 and only keys
// its schema lists.
func TestJSONOutputs(t *testing.T) {
	srv := startSim(t, sim.Config{})
	env := tokenEnv(srv.APIURL)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,image,promptText\na,https://img.example.com/a.jpg,waves\nb,https://img.example.com/b.jpg,wind\n")
	out := filepath.Join(dir, "out")
	check := func(schema string, wantCode int, args ...string) {
		t.Helper()
		code, stdout, stderr := invoke(t, env, args...)
		require.Equal(t, wantCode, code, "%v: %s", args, stderr)
		var doc map[string]any
		require.NoError(t, json.Unmarshal([]byte(stdout), &doc), "%v: %s", args, stdout)
		assert.Equal(t, float64(jsonVersion), doc["version"], "%v", args)
		for _, p := range keyPaths("", doc) {
			assert.True(t, inSchema(jsonSchemas[schema].keys, p), "%v: key %s is not in the %s schema", args, p, schema)
		}
	}
	check("validate", exitOK, "validate", "--manifest", m, "--json")
	check("run --dry-run", exitOK, "run", "--manifest", m, "--out", out, "--dry-run", "--json")
	check("run", exitOK, "run", "--manifest", m, "--out", out, "--json", "-q")
	check("status", exitOK, "status", "--out", out, "--json")
	check("verify", exitOK, "verify", "--out", out, "--json")
	check("cancel", exitOK, "cancel", "--out", out, "--json")
	require.NoError(t, os.Remove(filepath.Join(out, ".pikabatch.db")))
	check("recover", exitOK, "recover", "--out", out, "--json")
	check("models", exitOK, "models", "--api-base", srv.APIURL, "--json")
	check("models show", exitOK, "models", "show", "sim/still-lite/text-to-image", "--api-base", srv.APIURL, "--json")
	check("balance", exitOK, "balance", "--api-base", srv.APIURL, "--json")
}
