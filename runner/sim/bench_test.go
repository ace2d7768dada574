package sim_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// BenchmarkSubmitStatusResult pushes submit, status and result calls through
// the simulator over real HTTP, as a client's poll loop would, and reports
// API requests per second.
func BenchmarkSubmitStatusResult(b *testing.B) {
	srv, err := sim.New(sim.Config{
		Token:   testToken,
		Slots:   1000,
		RunTime: time.Millisecond,
	})
	if err != nil {
		b.Fatal(err)
	}
	api := httptest.NewServer(srv.APIHandler())
	defer api.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	do := func(method, url, body string, out any) error {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %s", method, url, resp.Status)
		}
		if out != nil {
			return json.Unmarshal(raw, out)
		}
		return nil
	}

	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	begin := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"image":"https://images.example.com/%d.png","seed":%d}`, i, i)
			var sub struct {
				StatusURL string `json:"status_url"`
				ResultURL string `json:"result_url"`
			}
			if err := do(http.MethodPost, api.URL+"/v1/models/"+sim.DefaultModel, body, &sub); err != nil {
				b.Error(err)
				return
			}
			if err := do(http.MethodGet, sub.StatusURL, "", nil); err != nil {
				b.Error(err)
				return
			}
			if err := do(http.MethodGet, sub.ResultURL, "", nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(begin)
	b.ReportMetric(float64(3*n.Load())/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(n.Load())/elapsed.Seconds(), "jobs/s")
}
