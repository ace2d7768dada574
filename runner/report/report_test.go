package report

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// The report reads what `pikabatch export` reads.
var (
	_ Source = (live.Source)(nil)
	_ Source = (*live.Batch)(nil)
)

// entries is a Source of fixed entries.
type entries []results.Entry

func (es entries) Export(ctx context.Context, fn func(results.Entry) error) error {
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// pageData is the report's data block, decoded.
type pageData struct {
	Rows    []row   `json:"rows"`
	Summary Summary `json:"summary"`
}

// dataBlock returns the text of the page's data block.
func dataBlock(t *testing.T, html string) string {
	t.Helper()
	const open = `<script type="application/json" id="report-data">`
	require.Equal(t, 1, strings.Count(html, open), "one data block")
	_, rest, _ := strings.Cut(html, open)
	data, _, ok := strings.Cut(rest, "</script>")
	require.True(t, ok, "the data block ends")
	return data
}

func decodePage(t *testing.T, html string) pageData {
	t.Helper()
	var d pageData
	require.NoError(t, json.Unmarshal([]byte(dataBlock(t, html)), &d))
	return d
}

func input(t *testing.T, v map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func writeReport(t *testing.T, dir string, srcs ...Source) (string, Summary) {
	t.Helper()
	var buf bytes.Buffer
	now := func() time.Time { return time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC) }
	sum, err := Write(context.Background(), &buf, Options{Dir: dir, StateFiles: []string{"s.db"}, Now: now}, srcs...)
	require.NoError(t, err)
	return buf.String(), sum
}

func TestHostileValuesStayData(t *testing.T) {
	hostile := []string{
		`</script><script>alert(1)</script>`,
		`</SCRIPT >x`,
		`<!--<script>`,
		`"quotes" and 'quotes' & <b>tags</b>`,
		"\x1b]0;pwned\x07\x1b[2J\u009b31m",
		"line\u2028separator\u2029",
	}
	var es entries
	for i, h := range hostile {
		es = append(es, results.Entry{Key: "k" + string(rune('a'+i)), State: store.StateFailed, Error: h,
			Input: input(t, map[string]any{"promptText": h, "seed": h, "resolution": h})})
	}
	html, _ := writeReport(t, t.TempDir(), es)

	data := dataBlock(t, html)
	assert.NotContains(t, data, "<", "nothing in the data block can end it or open a comment")
	assert.NotContains(t, data, ">")
	assert.Equal(t, 2, strings.Count(strings.ToLower(html), "</script"), "the page's own two scripts end, nothing else")
	assert.NotContains(t, html, "\x1b")
	assert.NotContains(t, html, "\u009b")

	d := decodePage(t, html)
	require.Len(t, d.Rows, len(hostile))
	for i, h := range hostile {
		assert.Equal(t, results.EscapeControls(h), d.Rows[i].Prompt, "the prompt is kept, its controls made visible")
		assert.Equal(t, results.EscapeControls(h), d.Rows[i].Seed)
	}
	assert.Equal(t, `\x1b]0;pwned\x07\x1b[2J\u009b31m`, d.Rows[4].Prompt)
}

func TestPageShowsDataAsTextOnly(t *testing.T) {
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("} {
		assert.NotContains(t, pageJS, sink, "data reaches the page as text only")
	}
	assert.Contains(t, page.head, "script-src '"+hash(pageJS)+"'", "only the page's own script runs")
	assert.Contains(t, page.head, "default-src 'none'", "nothing is fetched from anywhere")
	assert.NotContains(t, pageHTML+pageCSS+pageJS, "http://", "no network")
	assert.NotContains(t, pageHTML+pageCSS+pageJS, "https://", "no network")
}

func TestCountsClipsAndFailures(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.mp4", "b c#1%.mp4", "sub/d.mp4", "x:y.mp4"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("video"), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(t.TempDir(), "outside.mp4"), nil, 0o644))
	require.NoError(t, os.Symlink(filepath.Join(dir, "a.mp4"), filepath.Join(dir, "link.mp4")))
	file := func(p string) []results.FileRef { return []results.FileRef{{Path: p, Size: 5}} }
	es := entries{
		{Key: "a", State: store.StateDone, Attempts: 1, Files: file("a.mp4"),
			Input: input(t, map[string]any{"promptText": "waves", "seed": 7, "duration": 5, "resolution": "1080p"})},
		{Key: "b", State: store.StateDone, Attempts: 2, Files: file("b c#1%.mp4")},
		{Key: "d", State: store.StateDone, Attempts: 1, Files: file("sub/d.mp4"),
			Input: input(t, map[string]any{"prompt": "another model's field", "seed": "s1", "duration": "5s"})},
		{Key: "gone", State: store.StateDone, Attempts: 1, Files: file("gone.mp4")},
		{Key: "link", State: store.StateDone, Attempts: 1, Files: file("link.mp4")},
		{Key: "up", State: store.StateDone, Attempts: 1, Files: file("../outside.mp4")},
		{Key: "x", State: store.StateDone, Attempts: 1, Files: file("x:y.mp4")},
		{Key: "f1", State: store.StateFailed, Attempts: 1, Error: "job 3f9a2c71e0 failed: content policy"},
		{Key: "f2", State: store.StateFailed, Attempts: 1, Error: "job 77b01d44aa failed: content policy"},
		{Key: "f3", State: store.StateTimedOut, Attempts: 1},
		{Key: "f4", State: store.StateFailed, Attempts: 0, Error: "image too large"},
		{Key: "p", State: store.StatePending},
		{Key: "r", State: store.StateRunning, Attempts: 3, RequestID: "id"},
	}
	html, sum := writeReport(t, dir, es[:7], es[7:]) // two state files: one report
	d := decodePage(t, html)

	assert.Equal(t, sum, d.Summary, "the page heads with the summary returned")
	assert.Equal(t, 13, sum.Jobs)
	assert.Equal(t, 4, sum.Clips, "a, b, d, x: files in the folder")
	assert.Equal(t, 3, sum.MissingFiles, "gone, a link, a path out of the folder")
	assert.Equal(t, 14, sum.Submits)
	assert.Zero(t, sum.PricedJobs, "no cost is recorded yet: the page shows submits")
	assert.Equal(t, 4, sum.Failed)
	assert.Equal(t, []StateCount{{store.StatePending, 1}, {store.StateRunning, 1}, {store.StateDone, 7},
		{store.StateFailed, 3}, {store.StateTimedOut, 1}}, sum.States, "in life order")
	assert.Equal(t, []FailureGroup{
		{ID: 1, Message: "job <id> failed: content policy", Count: 2},
		{ID: 3, Message: "image too large", Count: 1},
		{ID: 2, Message: "timed_out", Count: 1},
	}, sum.Failures, "grouped by reasons.Normalize, most frequent first (ties by message)")

	byKey := map[string]row{}
	for _, r := range d.Rows {
		byKey[r.Key] = r
	}
	assert.Equal(t, []video{{Path: "a.mp4", Src: "./a.mp4"}}, byKey["a"].Videos)
	assert.Equal(t, "./b%20c%231%25.mp4", byKey["b"].Videos[0].Src, "a name is a URL path, escaped")
	assert.Equal(t, "./sub/d.mp4", byKey["d"].Videos[0].Src)
	assert.Equal(t, "./x:y.mp4", byKey["x"].Videos[0].Src, "never read as a URL scheme")
	for _, k := range []string{"gone", "link", "up"} {
		assert.Empty(t, byKey[k].Videos[0].Src, k)
	}
	assert.Equal(t, row{Key: "a", State: store.StateDone, Prompt: "waves", Seed: "7", Duration: "5s", Resolution: "1080p",
		Videos: []video{{Path: "a.mp4", Src: "./a.mp4"}}, Attempts: 1}, byKey["a"])
	assert.Equal(t, "another model's field", byKey["d"].Prompt)
	assert.Equal(t, "s1", byKey["d"].Seed)
	assert.Equal(t, "5s", byKey["d"].Duration)
	assert.Equal(t, byKey["f1"].Failure, byKey["f2"].Failure)
	assert.NotZero(t, byKey["f3"].Failure)
	assert.Zero(t, byKey["a"].Failure)
}

func TestFailureMessagesStayBounded(t *testing.T) {
	var es entries
	for i := range 200 {
		es = append(es, results.Entry{Key: "k" + strings.Repeat("x", i), State: store.StateFailed,
			Error: "reason " + strings.Repeat("y", i)}) // 200 distinct messages
	}
	_, sum := writeReport(t, t.TempDir(), es)
	n := 0
	for _, g := range sum.Failures {
		n += g.Count
	}
	assert.Equal(t, 200, n, "every failure is counted")
	assert.Len(t, sum.Failures, 65, "64 messages apart, the rest as (other)")
	assert.Equal(t, "(other)", sum.Failures[len(sum.Failures)-1].Message)
}

func TestSpendOfTheRecordedCosts(t *testing.T) {
	usd := func(v float64) *float64 { return &v }
	es := entries{
		{Key: "a", State: store.StateDone, Attempts: 1, CostUSD: usd(0.5)},
		{Key: "b", State: store.StateDone, Attempts: 2, CostUSD: usd(0.75)},
		{Key: "c", State: store.StateDone, Attempts: 1}, // cost unknown, not free
		{Key: "d", State: store.StatePending},
	}
	html, sum := writeReport(t, t.TempDir(), es)
	assert.Equal(t, 2, sum.PricedJobs)
	assert.InDelta(t, 1.25, sum.SpendUSD, 1e-9)
	d := decodePage(t, html)
	require.NotNil(t, d.Rows[0].CostUSD)
	assert.InDelta(t, 0.5, *d.Rows[0].CostUSD, 1e-9)
	assert.Nil(t, d.Rows[2].CostUSD, "no cost known: none shown")
}

func TestEmptyBatch(t *testing.T) {
	html, sum := writeReport(t, t.TempDir(), entries{})
	d := decodePage(t, html)
	assert.Empty(t, d.Rows)
	assert.Zero(t, sum.Jobs)
	assert.NotNil(t, d.Summary.Failures, "an empty list, which the page reads as no failures")
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	es := entries{{Key: "a", State: store.StatePending}}
	sum, err := WriteFile(context.Background(), Options{Dir: dir}, es)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Jobs)
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	require.NoError(t, err)
	assert.Len(t, decodePage(t, string(b)).Rows, 1)
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	assert.Equal(t, []string{filepath.Join(dir, FileName)}, left, "no temporary file left")

	_, err = WriteFile(context.Background(), Options{Dir: filepath.Join(dir, "no-such-folder")}, es)
	assert.ErrorIs(t, err, results.ErrOutput)
}

func TestAFullDiskIsAnOutputError(t *testing.T) {
	// WriteFile writes through outputWriter; a disk that fills up answers
	// a write with ENOSPC.
	bw := bufio.NewWriterSize(outputWriter{fullDisk{}}, 64<<10)
	_, err := Write(context.Background(), bw, Options{Dir: t.TempDir()}, entries{{Key: "a", State: store.StatePending}})
	if err == nil {
		err = bw.Flush()
	}
	assert.ErrorIs(t, err, results.ErrOutput, "the command exits 73")
	assert.ErrorIs(t, err, syscall.ENOSPC)
}

type fullDisk struct{}

func (fullDisk) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

func TestSourceErrorStopsTheReport(t *testing.T) {
	dir := t.TempDir()
	_, err := WriteFile(context.Background(), Options{Dir: dir}, failing{})
	require.ErrorIs(t, err, errBroken)
	assert.NoFileExists(t, filepath.Join(dir, FileName), "no report of part of a batch")
}

var errBroken = os.ErrClosed

type failing struct{}

func (failing) Export(ctx context.Context, fn func(results.Entry) error) error {
	if err := fn(results.Entry{Key: "a", State: store.StatePending}); err != nil {
		return err
	}
	return errBroken
}

// TestPageTellsTheAccount: the page carries the batch's account as status
// tells it, figures and text alike, and no account line without one.
func TestPageTellsTheAccount(t *testing.T) {
	a := account.Ledger{Rows: 40, Done: 8, Failed: 1, InFlight: 7, NotSubmitted: 24,
		Spend: account.Spend{ReportedUSD: account.Dollars(0.352), ReportedJobs: 8}}
	var buf bytes.Buffer
	sum, err := Write(context.Background(), &buf, Options{Dir: t.TempDir(), Account: a}, entries{})
	require.NoError(t, err)
	d := decodePage(t, buf.String())
	assert.Equal(t, a, d.Summary.Account)
	assert.Equal(t, "rows 40: 8 done, 1 failed, 0 cancelled, 7 in flight, 0 held, 24 not submitted", d.Summary.AccountText)
	assert.Equal(t, a.Spend.String(), d.Summary.SpendText)
	assert.Equal(t, d.Summary.AccountText, sum.AccountText)

	html, _ := writeReport(t, t.TempDir(), entries{})
	assert.Empty(t, decodePage(t, html).Summary.AccountText)
}
