package results_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// TestCSVExportNeutralisesFormulas: a cell a spreadsheet would run as a
// formula (one starting with =, +, -, @, a tab or a carriage return) gets a
// leading single quote in a CSV export, wherever it comes from: a prompt,
// a kept column (and its name), the API's message. Numbers stay numbers,
// and the JSONL export keeps every value as it was.
func TestCSVExportNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	in := `{"image":"https://img.example.com/a.png","promptText":"=HYPERLINK(\"http://evil\",\"x\")","negativePrompt":"@SUM(1+1)","seed":-5}`
	cols := `{"note":"+cmd|' /C calc'!A0","tab":"\t=1","cr":"\r=1","neg":"-5","minus":"-1+2","n":-7.5,"=bad":"ok"}`
	e := results.NewEntry(store.Job{Key: "k", Line: 2, Input: json.RawMessage(in), Columns: json.RawMessage(cols),
		State: store.StateFailed, LastError: "-2+3 is not allowed"})
	src := exportFunc(func(fn func(results.Entry) error) error { return fn(e) })

	var buf bytes.Buffer
	_, err := results.WriteIndex(context.Background(), results.WriteOptions{Format: results.CSV, To: &buf}, src)
	require.NoError(t, err)
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 2)
	cell := func(name string) string {
		i := slices.Index(recs[0], name)
		require.GreaterOrEqual(t, i, 0, "column %s in %v", name, recs[0])
		return recs[1][i]
	}
	assert.Equal(t, `'=HYPERLINK("http://evil","x")`, cell("promptText"))
	assert.Equal(t, `'@SUM(1+1)`, cell("negativePrompt"))
	assert.Equal(t, "-5", cell("seed"), "a number stays a number")
	assert.Equal(t, `'+cmd|' /C calc'!A0`, cell("note"))
	assert.Equal(t, "'\t=1", cell("tab"))
	assert.Equal(t, "'\r=1", cell("cr"))
	assert.Equal(t, "-5", cell("neg"), "a kept number stays a number")
	assert.Equal(t, "'-1+2", cell("minus"))
	assert.Equal(t, "-7.5", cell("n"))
	assert.Equal(t, "'-2+3 is not allowed", cell("error"))
	assert.Equal(t, "ok", cell("'=bad"), "a kept column's name is a header cell like any other")
	assert.Equal(t, "2", cell("line"))

	buf.Reset()
	_, err = results.WriteIndex(context.Background(), results.WriteOptions{Format: results.JSONL, To: &buf}, src)
	require.NoError(t, err)
	var back results.Entry
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	assert.JSONEq(t, in, string(back.Input), "JSONL keeps values as they are")
	assert.JSONEq(t, cols, string(back.Columns))
	assert.Equal(t, "-2+3 is not allowed", back.Error)
}
