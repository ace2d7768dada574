package report

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

// BenchmarkWriteFile10k is the whole `pikabatch report` of a 10,000-job
// batch: open its state file as the command does, read every job, stat
// every video and write report.html atomically (fsync included). Nine in
// ten jobs are done with their file on disk, one in ten failed under one
// of 20 messages.
func BenchmarkWriteFile10k(b *testing.B) {
	const jobs = 10_000
	ctx := context.Background()
	dir := b.TempDir()
	statePath := filepath.Join(dir, ".pikabatch.db")
	st, err := store.Open(statePath, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range jobs {
		g.Go(func() error {
			key := fmt.Sprintf("clip-%05d", i)
			in, _ := json.Marshal(map[string]any{"image": "https://img.example.com/" + key + ".jpg",
				"promptText": fmt.Sprintf("a lighthouse at dusk, waves against the rocks, take %d", i),
				"seed":       i, "duration": 5, "resolution": "1080p"})
			j := store.Job{Key: key, ParamHash: "h", Input: in, Attempts: 1, RequestID: "req-" + key}
			if i%10 == 9 {
				j.State, j.LastError = store.StateFailed, fmt.Sprintf("job %d failed: reason %d", 100000000+i, i%20)
			} else {
				j.State = store.StateDone
				j.Outputs = []store.Output{{URL: "https://files.example.com/" + key, Path: key + ".mp4", Size: 1, SHA256: "00"}}
				if err := os.WriteFile(filepath.Join(dir, key+".mp4"), []byte{0}, 0o644); err != nil {
					return err
				}
			}
			return st.Put(gctx, j)
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}

	var size int64
	for b.Loop() {
		src, err := live.Open(ctx, statePath, live.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		sum, err := WriteFile(ctx, Options{Dir: dir, StateFiles: []string{statePath}}, src)
		if cerr := src.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
		if sum.Jobs != jobs || sum.Clips != jobs*9/10 {
			b.Fatalf("report of %d jobs, %d clips", sum.Jobs, sum.Clips)
		}
		fi, err := os.Stat(filepath.Join(dir, FileName))
		if err != nil {
			b.Fatal(err)
		}
		size = fi.Size()
	}
	b.ReportMetric(float64(size)/jobs, "page-bytes/job")
}
