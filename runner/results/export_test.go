package results_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// WriteIndex encodes on a goroutine of its own: none outlives a test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// hostile is manifest text that drives a terminal: a title change, a
// screen clear, an 8-bit CSI, a bell and a DEL.
const hostile = "pan\x1b]0;pwned\x07 \x1b[2J\u009b31m red\x7f"

// TestExportNeutralisesTerminalEscapes: manifest values reached the
// terminal raw through `export` to stdout. No export
// carries a control character other than the line ends and tabs that CSV
// quotes; JSONL escapes them, so the data comes back exactly.
func TestExportNeutralisesTerminalEscapes(t *testing.T) {
	t.Parallel()
	in, err := json.Marshal(map[string]any{"image": "https://img.example.com/a.jpg", "promptText": hostile + "\nsecond line"})
	require.NoError(t, err)
	src := exportFunc(func(fn func(results.Entry) error) error {
		return fn(results.NewEntry(store.Job{Key: "k", Input: in, State: store.StateFailed, LastError: "api: " + hostile}))
	})
	for _, f := range []results.Format{results.CSV, results.JSONL} {
		var buf bytes.Buffer
		_, err := results.WriteIndex(context.Background(), results.WriteOptions{Format: f, To: &buf}, src)
		require.NoError(t, err)
		for _, r := range buf.String() {
			if r == '\n' || r == '\r' || r == '\t' {
				continue
			}
			assert.False(t, r < 0x20 || (r >= 0x7f && r <= 0x9f), "%s export holds control character %U", f, r)
		}
		switch f {
		case results.JSONL:
			var e results.Entry
			require.NoError(t, json.Unmarshal(buf.Bytes(), &e))
			var got manifest.Input
			require.NoError(t, json.Unmarshal(e.Input, &got))
			assert.Equal(t, hostile+"\nsecond line", got.Text("promptText"), "JSON round-trips")
			assert.Equal(t, "api: "+hostile, e.Error)
		case results.CSV:
			recs, err := csv.NewReader(&buf).ReadAll()
			require.NoError(t, err)
			require.Len(t, recs, 2)
			prompt := recs[1][3]
			assert.True(t, strings.HasPrefix(prompt, `pan\x1b]0;pwned\x07 \x1b[2J\u009b31m red\x7f`), "escaped, not dropped: %q", prompt)
			assert.True(t, strings.HasSuffix(prompt, "\nsecond line"), "a line break in a prompt is data: %q", prompt)
		}
	}
}

// TestExportRedactsURLs: a password or a signature in an image URL was
// exported as given; `export -o` files are 0644.
func TestExportRedactsURLs(t *testing.T) {
	t.Parallel()
	in, err := json.Marshal(map[string]any{"image": "https://alice:hunter2@img.example.com/a.jpg?sig=c0ffee&w=5"})
	require.NoError(t, err)
	src := exportFunc(func(fn func(results.Entry) error) error {
		return fn(results.NewEntry(store.Job{Key: "k", Input: in, State: store.StateFailed,
			LastError: "image https://alice:hunter2@img.example.com/a.jpg?sig=c0ffee not reachable"}))
	})
	for _, f := range []results.Format{results.CSV, results.JSONL} {
		var buf bytes.Buffer
		_, err := results.WriteIndex(context.Background(), results.WriteOptions{Format: f, To: &buf}, src)
		require.NoError(t, err)
		for _, secret := range []string{"alice", "hunter2", "c0ffee"} {
			assert.NotContains(t, buf.String(), secret, "%s export", f)
		}
		assert.Contains(t, buf.String(), "https://REDACTED@img.example.com/a.jpg?sig=REDACTED", "%s export", f)
	}
}

// TestCSVColumnsAreTheContract pins the CSV export's columns, which
// scripts read by name and position; CSVColumns comes from the csv tags
// that gocsv writes.
func TestCSVColumnsAreTheContract(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{
		"key", "line", "image", "promptText", "negativePrompt", "seed", "resolution", "duration",
		"state", "request_id", "file", "size", "sha256", "attempts", "polls",
		"submitted_at", "finished_at", "downloaded_at", "render_seconds", "error", "orphan", "cost_usd", "cost_estimated_usd",
	}, results.CSVColumns)
	var buf bytes.Buffer
	n, err := results.WriteIndex(context.Background(), results.WriteOptions{Format: results.CSV, To: &buf})
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, strings.Join(results.CSVColumns, ",")+"\n", buf.String(), "no jobs: the header alone")
}

// BenchmarkWriteIndexCSV writes a CSV export of 10,000 jobs.
func BenchmarkWriteIndexCSV(b *testing.B) {
	in, err := json.Marshal(manifest.NewInput(manifest.Field{Name: "image", Value: "https://img.example.com/a.jpg"},
		manifest.Field{Name: "promptText", Value: `waves, "slow"`}, manifest.Field{Name: "seed", Value: 7},
		manifest.Field{Name: "resolution", Value: "720p"}, manifest.Field{Name: "duration", Value: 5}))
	require.NoError(b, err)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	e := results.NewEntry(store.Job{Key: "clip-0001", Line: 2, Input: in, State: store.StateDone, RequestID: "r-a",
		Attempts: 1, Polls: 3, SubmittedAt: at, FinishedAt: at.Add(90 * time.Second), DownloadedAt: at.Add(95 * time.Second),
		Outputs: []store.Output{{Path: "clip-0001.mp4", Size: 1234, SHA256: "abc123"}}})
	const jobs = 10_000
	src := exportFunc(func(fn func(results.Entry) error) error {
		for range jobs {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := results.WriteIndex(context.Background(), results.WriteOptions{Format: results.CSV, To: io.Discard}, src); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(jobs)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// failAfter is a writer that fails once n bytes have been written.
type failAfter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *failAfter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		return 0, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

// WriteIndex encodes on a goroutine of its own: entries keep their order
// across its batches and sources, and a write error stops the sources and
// is returned.
func TestWriteIndexOrderAndWriteError(t *testing.T) {
	t.Parallel()
	source := func(from, n int, sent *int) exportFunc {
		return exportFunc(func(fn func(results.Entry) error) error {
			for i := from; i < from+n; i++ {
				*sent++
				if err := fn(results.Entry{Key: fmt.Sprintf("k%05d", i), State: store.StateDone}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var sent int
	var buf bytes.Buffer
	n, err := results.WriteIndex(context.Background(), results.WriteOptions{Format: results.JSONL, To: &buf}, source(0, 700, &sent), source(700, 600, &sent))
	require.NoError(t, err)
	assert.Equal(t, 1300, n)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 1300)
	for i, line := range lines {
		var e results.Entry
		require.NoError(t, json.Unmarshal([]byte(line), &e))
		require.Equal(t, fmt.Sprintf("k%05d", i), e.Key)
	}

	sent = 0
	_, err = results.WriteIndex(context.Background(), results.WriteOptions{Format: results.JSONL, To: &failAfter{n: 10 << 10}}, source(0, 100_000, &sent))
	require.ErrorIs(t, err, errDiskFull)
	assert.Less(t, sent, 100_000, "the source stopped")
}

type exportFunc func(fn func(results.Entry) error) error

func (e exportFunc) Export(_ context.Context, fn func(results.Entry) error) error { return e(fn) }

// TestWriteIndexFileIsAtomic: a failed export leaves the old file and no
// temporary file; a good one replaces it with the index's mode.
func TestWriteIndexFileIsAtomic(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.csv")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	boom := errors.New("boom")
	_, err := results.WriteIndex(context.Background(), results.WriteOptions{Format: results.CSV, Path: path},
		exportFunc(func(fn func(results.Entry) error) error {
			_ = fn(results.Entry{Key: "x"})
			return boom
		}))
	require.ErrorIs(t, err, boom)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old", string(b), "a failed export leaves the old file")
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	n, err := results.WriteIndex(context.Background(), results.WriteOptions{Format: results.CSV, Path: path},
		exportFunc(func(fn func(results.Entry) error) error {
			for i := range 9 {
				if err := fn(results.Entry{Key: fmt.Sprintf("k%d", i), State: store.StateDone}); err != nil {
					return err
				}
			}
			return nil
		}))
	require.NoError(t, err)
	assert.Equal(t, 9, n)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(results.Perm), fi.Mode().Perm(), "as results.jsonl")
}
