package main

import (
	"net/http"
	"net/http/httptest"
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
	call := simCaller(t, banner, "tok")
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
