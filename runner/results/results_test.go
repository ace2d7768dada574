package results_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// TestLineRoundTrip pins the line format: a job's entry, written with
// AppendLine and read back with Scan, is the same entry, with secrets
// redacted and terminal controls escaped on the way.
func TestLineRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	j := store.Job{Key: "k1", Line: 3, State: store.StateDone, RequestID: "req-1", Attempts: 1, Polls: 4,
		Input:       json.RawMessage(`{"image":"https://u:p@h/x.jpg","promptText":"a\u009bb"}`),
		LastError:   "fetch https://u:p@h/y.jpg: 403",
		SubmittedAt: t0, FinishedAt: t0.Add(time.Minute), DownloadedAt: t0.Add(2 * time.Minute),
		Outputs: []store.Output{{Path: "k1.mp4", Size: 10, SHA256: "ab"}, {URL: "https://s/x?sig=1"}}}
	e := results.NewEntry(j)
	assert.NotContains(t, string(e.Input), "u:p@", "input redacted")
	assert.NotContains(t, e.Error, "u:p@", "error redacted")
	assert.Equal(t, []results.FileRef{{Path: "k1.mp4", Size: 10, SHA256: "ab"}}, e.Files, "only downloaded files, no URLs")

	line, err := results.AppendLine(nil, e)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(string(line), "\n"))
	assert.Contains(t, string(line), `\u009b`, "C1 control escaped")
	assert.NotContains(t, string(line), "\u009b")

	var got []results.Entry
	var lines []int
	require.NoError(t, results.Scan(strings.NewReader("\n"+string(line)), func(n int, e results.Entry) error {
		lines = append(lines, n)
		got = append(got, e)
		return nil
	}))
	assert.Equal(t, []int{2}, lines, "blank line skipped, numbered from 1")
	require.Len(t, got, 1)
	assert.JSONEq(t, string(e.Input), string(got[0].Input))
	got[0].Input = e.Input
	assert.Equal(t, e, got[0])
}

func TestScanErrorNamesLine(t *testing.T) {
	err := results.Scan(strings.NewReader(`{"key":"a","state":"done","attempts":1}`+"\nnot json\n"),
		func(int, results.Entry) error { return nil })
	var le *results.LineError
	require.True(t, errors.As(err, &le), "%v", err)
	assert.Equal(t, 2, le.Line)

	stop := errors.New("stop")
	err = results.Scan(strings.NewReader(`{"key":"a"}`+"\n"), func(int, results.Entry) error { return stop })
	require.ErrorIs(t, err, stop)
	require.True(t, errors.As(err, &le))
	assert.Equal(t, 1, le.Line)
}
