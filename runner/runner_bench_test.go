package runner_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// BenchmarkRun pushes a batch through the whole pipeline (submit, poll,
// result, download, fsync, record) against a simulator that answers at once,
// so the runner's own cost is what is measured: the bench's raw-overhead
// scenario in one process, for pprof. `pikabatch bench` measures the same
// with the runner in a process of its own.
//
//	go test -run '^$' -bench BenchmarkRun -benchtime 3x -cpuprofile cpu.out ./runner
func BenchmarkRun(b *testing.B) {
	const rows = 2000
	srv, err := sim.New(sim.Config{Slots: 1024, RunTime: time.Nanosecond, VideoSize: 64 << 10, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	apiTS := httptest.NewServer(srv.APIHandler())
	filesTS := httptest.NewServer(srv.FilesHandler())
	srv.SetFilesBase(filesTS.URL)
	b.Cleanup(func() {
		apiTS.CloseClientConnections()
		filesTS.CloseClientConnections()
		apiTS.Close()
		filesTS.Close()
	})
	path := filepath.Join(b.TempDir(), "manifest.csv")
	writeBenchManifest(b, path, rows)

	var commits, writes int64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		out := filepath.Join(b.TempDir(), fmt.Sprint(i))
		if err := os.MkdirAll(out, 0o755); err != nil {
			b.Fatal(err)
		}
		st, err := store.Open(filepath.Join(out, ".pikabatch.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		apiTr := &http.Transport{MaxIdleConnsPerHost: 512}
		fileTr := &http.Transport{MaxIdleConnsPerHost: 64}
		client, err := api.New(api.Config{BaseURL: apiTS.URL, Token: api.Token(srv.Token()),
			HTTPClient: &http.Client{Transport: apiTr}})
		if err != nil {
			b.Fatal(err)
		}
		r, err := runner.New(runner.Config{Model: sim.DefaultModel, OutDir: out, Concurrency: 256,
			DownloadConcurrency: 32, HTTPClient: &http.Client{Transport: fileTr}}, client, st)
		if err != nil {
			b.Fatal(err)
		}
		src, err := manifest.Open(path, manifest.FormatAuto)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sum, err := r.Run(b.Context(), src)
		b.StopTimer()
		if err != nil || sum.Final[store.StateDone] != rows {
			b.Fatalf("done %d of %d: %v", sum.Final[store.StateDone], rows, err)
		}
		stats := st.Stats()
		commits += stats.Commits
		writes += stats.Writes
		_ = src.Close()
		_ = st.Close()
		apiTr.CloseIdleConnections()
		fileTr.CloseIdleConnections()
		b.StartTimer()
	}
	jobs := float64(rows * b.N)
	b.ReportMetric(jobs/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64(writes)/jobs, "writes/job")
	b.ReportMetric(float64(commits)/jobs, "fsyncs/job")
}

func writeBenchManifest(b *testing.B, path string, n int) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "id,image,promptText,seed,resolution,duration")
	for i := range n {
		fmt.Fprintf(w, "clip-%06d,https://img.example.com/%d.jpg,a slow pan over scene %d,%d,720p,5\n", i, i, i, i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}
