package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/reasons"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// TestFailReasonsBoundedEndToEnd: every job fails with its own message,
// so the reasons kept must be bounded; the printed summary, the
// --notify-url payload and status show the reasons.Shown most frequent
// reasons and one "(other)" count, and account for every failure.
func TestFailReasonsBoundedEndToEnd(t *testing.T) {
	const rows = 16
	srv := startSim(t, sim.Config{Slots: rows, Faults: sim.Faults{RateFail: 1}})
	// The simulator knows four failure messages; a proxy makes each
	// answer's its own, as an API quoting a worker or a request would.
	target, err := url.Parse(srv.APIURL)
	require.NoError(t, err)
	var answers atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte("generation failed: "),
			fmt.Appendf(nil, "generation failed on node n%d: ", answers.Add(1)))
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	api := httptest.NewServer(proxy)
	t.Cleanup(api.Close)
	got := make(chan notifyPayload, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p notifyPayload
		if assert.NoError(t, json.NewDecoder(r.Body).Decode(&p)) {
			got <- p
		}
	}))
	t.Cleanup(hook.Close)

	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,image,promptText\n")
	for i := range rows {
		fmt.Fprintf(&b, "r%02d,https://img.example.com/%d.jpg,waves\n", i, i)
	}
	m := writeFile(t, filepath.Join(dir, "m.csv"), b.String())
	out := filepath.Join(dir, "out")
	env := tokenEnv(api.URL)
	env["PIKABATCH_NOTIFY_URL"] = ""
	code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--notify-url", hook.URL, "--concurrency", strconv.Itoa(rows), "--rps", "0")
	require.Equal(t, exitFailedRows, code, stderr)
	require.Positive(t, answers.Load(), "the proxy rewrote the failures")

	// The summary: eleven lines, most frequent first, (other) last.
	var lines []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "  failed ") {
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, reasons.Shown+1, stdout)
	assert.Equal(t, fmt.Sprintf("  failed %4d  (other)", rows-reasons.Shown), lines[len(lines)-1])

	// The notification: the same counts.
	p := <-got
	assert.Equal(t, rows, p.Summary.Failed)
	assert.Len(t, p.Summary.FailReasons, reasons.Shown+1)
	assert.Equal(t, rows-reasons.Shown, p.Summary.FailReasons[reasons.Other])

	// status: as many groups, every failed job in one.
	code, stdout, stderr = invoke(t, tokenEnv(api.URL), "status", "--out", out, "--json")
	require.Equal(t, exitOK, code, stderr)
	var rep statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.Batches, 1)
	groups := rep.Batches[0].Failures
	require.Len(t, groups, reasons.Shown+1)
	n := 0
	for _, g := range groups {
		n += g.Count
	}
	assert.Equal(t, rows, n)
	assert.Equal(t, rows, rep.ByState[store.StateFailed])
	assert.Equal(t, reasons.Other, groups[len(groups)-1].Message)
}
