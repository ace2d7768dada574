package results_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

func usd(v float64) *float64 { return &v }

// datasetEntries: a done job with kept columns and a reported cost, a done
// job with two files and an estimate, a failed job, and a pending one.
func datasetEntries() []results.Entry {
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	return []results.Entry{
		{Key: "city", Line: 2, State: store.StateDone, RequestID: "r1", Attempts: 1, Polls: 3,
			Input:   json.RawMessage(`{"image":"https://h/c.jpg","promptText":"rain","seed":42,"duration":5}`),
			Columns: json.RawMessage(`{"license":"cc-by","score":0.5}`),
			Files:   []results.FileRef{{Path: "city.mp4", Size: 10, SHA256: "aa"}},
			CostUSD: usd(0.2), SubmittedAt: at, FinishedAt: at.Add(time.Minute), DownloadedAt: at.Add(2 * time.Minute)},
		{Key: "m", Line: 3, State: store.StateDone, RequestID: "r2", Attempts: 1,
			Input:            json.RawMessage(`{"image":"https://h/m.jpg","resolution":"720p"}`),
			Files:            []results.FileRef{{Path: "m+1.mp4", Size: 1, SHA256: "b1"}, {Path: "m+2.mp4", Size: 2, SHA256: "b2"}},
			CostEstimatedUSD: usd(0.25)},
		{Key: "bad", Line: 4, State: store.StateFailed, RequestID: "r3", Attempts: 1, Error: "content policy",
			Input: json.RawMessage(`{"image":"https://h/b.jpg"}`)},
		{Key: "later", Line: 5, State: store.StatePending, Input: json.RawMessage(`{"image":"https://h/l.jpg"}`)},
	}
}

// TestHFMetadata: one line per file of each done job, file_name relative to
// the metadata file's folder, then the key, the inputs, the kept columns,
// the request ID and the cost; other jobs are left out.
func TestHFMetadata(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := results.NewHFWriter(&b, "/data/renders", "/data/renders")
	for _, e := range datasetEntries() {
		require.NoError(t, w.Write(e))
	}
	require.NoError(t, w.Flush())
	assert.Equal(t, 3, w.Lines())
	want := `{"file_name":"city.mp4","key":"city","image":"https://h/c.jpg","promptText":"rain","seed":42,"duration":5,"license":"cc-by","score":0.5,"request_id":"r1","cost_usd":0.2}
{"file_name":"m+1.mp4","key":"m","image":"https://h/m.jpg","resolution":"720p","request_id":"r2","cost_estimated_usd":0.25}
{"file_name":"m+2.mp4","key":"m","image":"https://h/m.jpg","resolution":"720p","request_id":"r2","cost_estimated_usd":0.25}
`
	assert.Equal(t, want, b.String())

	b.Reset()
	w = results.NewHFWriter(&b, "/data/renders", "/data/meta")
	require.NoError(t, w.Write(datasetEntries()[0]))
	require.NoError(t, w.Flush())
	assert.True(t, strings.HasPrefix(b.String(), `{"file_name":"../renders/city.mp4",`), b.String())
}

// TestHFMetadataRefusesShadowedNames: a kept column named like the
// layout's own column, or like an input field, would be read as the
// other: refused, naming the column.
func TestHFMetadataRefusesShadowedNames(t *testing.T) {
	t.Parallel()
	for _, cols := range []string{`{"file_name":"x.mp4"}`, `{"seed":"7"}`, `{"request_id":"forged"}`} {
		e := datasetEntries()[0]
		e.Columns = json.RawMessage(cols)
		err := results.NewHFWriter(&bytes.Buffer{}, "/o", "/o").Write(e)
		require.Error(t, err, cols)
		assert.Contains(t, err.Error(), "kept column", cols)
	}
}

// TestParquetExport: the index as Parquet, input columns typed by the
// schema, files as repeated columns, absent values null; read back with
// parquet-go as a reader would.
func TestParquetExport(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	pika := manifest.PikaSchema()
	w, err := results.NewParquetWriter(&b, results.ParquetLayout{
		Fields: pika.Fields(), Kinds: pika.FieldKind, Kept: []string{"license", "score"}})
	require.NoError(t, err)
	for _, e := range datasetEntries() {
		require.NoError(t, w.Write(e))
	}
	require.NoError(t, w.Close())
	assert.Equal(t, 4, w.Rows())

	f, err := parquet.OpenFile(bytes.NewReader(b.Bytes()), int64(b.Len()))
	require.NoError(t, err)
	assert.EqualValues(t, 4, f.NumRows())
	kinds := map[string]string{}
	for _, field := range f.Schema().Fields() {
		kinds[field.Name()] = field.Type().String()
	}
	assert.Equal(t, "INT(64,true)", kinds["seed"])
	assert.Equal(t, "INT(64,true)", kinds["duration"])
	assert.Equal(t, "STRING", kinds["promptText"])
	assert.Equal(t, "DOUBLE", kinds["cost_usd"])

	r := parquet.NewGenericReader[map[string]any](bytes.NewReader(b.Bytes()), f.Schema())
	rows := make([]map[string]any, 4)
	for i := range rows {
		rows[i] = map[string]any{}
	}
	n, err := r.Read(rows)
	if err != io.EOF {
		require.NoError(t, err)
	}
	require.Equal(t, 4, n)
	require.NoError(t, r.Close())
	city := rows[0]
	assert.Equal(t, "city", city["key"])
	assert.EqualValues(t, 42, city["seed"])
	assert.Equal(t, "rain", city["promptText"])
	assert.Equal(t, "cc-by", city["license"])
	assert.Equal(t, "0.5", city["score"], "a kept column is text")
	assert.InDelta(t, 0.2, city["cost_usd"], 1e-9)
	assert.Nil(t, city["resolution"], "not set: null")
	m := rows[1]
	assert.Equal(t, []any{"m+1.mp4", "m+2.mp4"}, m["file"])
	assert.EqualValues(t, []any{int64(1), int64(2)}, m["size"])
	assert.Equal(t, "failed", rows[2]["state"])
	assert.Equal(t, "content policy", rows[2]["error"])
}

// TestParquetRefusesMistypedAndShadowed: a value the schema does not type
// that way, and a field named like an index column, are errors.
func TestParquetRefusesMistypedAndShadowed(t *testing.T) {
	t.Parallel()
	pika := manifest.PikaSchema()
	w, err := results.NewParquetWriter(&bytes.Buffer{}, results.ParquetLayout{Fields: pika.Fields(), Kinds: pika.FieldKind})
	require.NoError(t, err)
	e := datasetEntries()[0]
	e.Columns = nil
	e.Input = json.RawMessage(`{"image":"https://h/c.jpg","seed":"42"}`)
	assert.ErrorContains(t, w.Write(e), `field seed: "42" is not of the schema's type integer`)

	_, err = results.NewParquetWriter(&bytes.Buffer{}, results.ParquetLayout{Fields: []string{"image", "state"}})
	assert.ErrorContains(t, err, `input field "state" has the name of an index column`)
}

// TestKindLearner: without a schema, a field's kind is what its values
// agree on.
func TestKindLearner(t *testing.T) {
	t.Parallel()
	var k results.KindLearner
	for _, in := range []string{`{"a":1,"b":1,"c":"x","d":true,"e":1,"f":[1]}`, `{"a":2,"b":1.5,"c":"y","d":false,"e":"1","g":null}`} {
		k.Learn(results.Entry{Input: json.RawMessage(in)})
	}
	want := map[string]manifest.FieldKind{"a": manifest.KindInteger, "b": manifest.KindNumber, "c": manifest.KindString,
		"d": manifest.KindBoolean, "e": manifest.KindJSON, "f": manifest.KindJSON}
	for f, kind := range want {
		got, ok := k.Kind(f)
		assert.True(t, ok, f)
		assert.Equal(t, kind, got, f)
	}
	_, ok := k.Kind("g")
	assert.False(t, ok, "only null seen: no kind")
}
