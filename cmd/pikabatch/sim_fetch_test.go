package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSimFetchInputsFlag: with --fetch-inputs the simulator fetches each
// job's image when the job starts, and a job whose image answers 404 fails with the API's
// failed result while one whose image is there renders.
func TestSimFetchInputsFlag(t *testing.T) {
	t.Parallel()
	img := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok.png" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("\x89PNG frame"))
	}))
	t.Cleanup(img.Close)
	banner := startSimCommand(t, "--token", "tok", "--run-ms", "0", "--fetch-inputs")
	base := banner[0][strings.Index(banner[0], "http://"):strings.Index(banner[0], " (result")]
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	call := func(method, path, body string) map[string]any {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := (&http.Client{Transport: tr}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return m
	}
	result := func(image string) map[string]any {
		t.Helper()
		m := call(http.MethodPost, "/v1/models/"+defaultModel, `{"image":"`+image+`"}`)
		id, _ := m["request_id"].(string)
		require.NotEmpty(t, id, "the submit is accepted, as the API accepts it before it fetches: %v", m)
		// The job reads in_progress until its fetch, started when it took
		// a slot, has answered: poll as a client does.
		for {
			r := call(http.MethodGet, "/v1/requests/"+id+"/result", "")
			if st := r["status"]; st != "in_queue" && st != "in_progress" {
				return r
			}
		}
	}

	bad := result(img.URL + "/missing.png")
	assert.Equal(t, "failed", bad["status"])
	assert.Equal(t, map[string]any{"message": "generation failed: input image could not be fetched: HTTP 404"}, bad["error"])

	assert.Equal(t, "succeeded", result(img.URL + "/ok.png")["status"])
}
