package manifest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

// writeLargeManifest writes a valid manifest of n rows: a third with ids,
// the rest without, every tenth a repeat of an earlier row. Each row's
// prompt is promptLen bytes.
func writeLargeManifest(tb testing.TB, format string, n, promptLen int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "large."+format)
	f, err := os.Create(path)
	require.NoError(tb, err)
	w := bufio.NewWriter(f)
	pad := strings.Repeat("x", max(0, promptLen-20))
	if format == "csv" {
		fmt.Fprintln(w, "id,image,promptText,seed,resolution,duration")
	}
	res := [...]string{"720p", "1080p", ""}
	dur := [...]string{"5", "10", ""}
	for i := range n {
		id := ""
		if i%3 == 0 {
			id = fmt.Sprintf("clip-%07d", i)
		}
		v := i
		if i%10 == 9 {
			v = i - 1 // same values as the row before
		}
		url := fmt.Sprintf("https://img.example.com/batch/%07d.png", v)
		prompt := fmt.Sprintf("scene %07d %s", v, pad)
		r, d := res[v%3], dur[v%3]
		if format == "csv" {
			fmt.Fprintf(w, "%s,%s,%s,%d,%s,%s\n", id, url, prompt, v, r, d)
		} else {
			fmt.Fprintf(w, `{"id":%q,"image":%q,"promptText":%q,"seed":%d,"resolution":%q,"duration":%q}`+"\n", id, url, prompt, v, r, d)
		}
	}
	require.NoError(tb, w.Flush())
	require.NoError(tb, f.Close())
	return path
}

func BenchmarkValidate(b *testing.B) {
	const rows = 100_000
	for _, format := range []string{"csv", "jsonl"} {
		b.Run(format, func(b *testing.B) {
			path := writeLargeManifest(b, format, rows, 80)
			fi, err := os.Stat(path)
			require.NoError(b, err)
			b.SetBytes(fi.Size())
			b.ReportAllocs()

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var peak uint64
			for b.Loop() {
				n := 0
				sum, err := manifest.Validate(context.Background(), path, manifest.FormatAuto, func(manifest.Row) error {
					if n++; n%10_000 == 0 {
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapAlloc)
					}
					return nil
				})
				if err != nil || sum.Rows != rows {
					b.Fatalf("rows %d, err %v", sum.Rows, err)
				}
			}
			runtime.ReadMemStats(&after)
			total := float64(rows) * float64(b.N)
			b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/total, "alloc-B/row")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// TestValidateStreams checks that memory does not grow with the size of
// the rows: 20,000 rows of 2000-character prompts make a 40 MB file, and
// the heap must stay far below that.
func TestValidateStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 40 MB manifest")
	}
	// Not parallel: the heap is measured for the whole process, and
	// parallel tests wait until sequential ones are done.
	for _, format := range []string{"csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			path := writeLargeManifest(t, format, 20_000, manifest.MaxPromptRunes)
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.Greater(t, fi.Size(), int64(40_000_000))

			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			var peak uint64
			n := 0
			_, err = manifest.Validate(context.Background(), path, manifest.FormatAuto, func(manifest.Row) error {
				if n++; n%500 == 0 {
					runtime.GC() // measure what is live, not garbage not yet collected
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc-min(ms.HeapAlloc, base.HeapAlloc))
				}
				return nil
			})
			require.NoError(t, err)
			t.Logf("live heap grew by at most %d bytes while reading %d", peak, fi.Size())
			assert.Less(t, peak, uint64(8<<20), "live heap grew by %d bytes while reading %d", peak, fi.Size())
		})
	}
}
