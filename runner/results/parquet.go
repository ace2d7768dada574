package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/pikabatch/pikabatch/manifest"
)

// Kinds gives an input field's kind, from the schema the batch's rows were
// checked with (manifest.Schema.FieldKind).
type Kinds func(field string) (manifest.FieldKind, bool)

// ParquetLayout is the columns of a Parquet export: the model's input
// fields, typed by the schema, and the manifest's kept columns.
type ParquetLayout struct {
	Fields []string
	Kinds  Kinds // nil: every field is JSON text
	Kept   []string
}

// parquetOwn are the index's own columns; input fields and kept columns
// may not take these names.
var parquetOwn = map[string]parquet.Node{
	"key":                parquet.Required(parquet.String()),
	"line":               parquet.Optional(parquet.Int(64)),
	"state":              parquet.Required(parquet.String()),
	"request_id":         parquet.Optional(parquet.String()),
	"file":               parquet.Repeated(parquet.String()),
	"size":               parquet.Repeated(parquet.Int(64)),
	"sha256":             parquet.Repeated(parquet.String()),
	"error":              parquet.Optional(parquet.String()),
	"attempts":           parquet.Required(parquet.Int(64)),
	"polls":              parquet.Optional(parquet.Int(64)),
	"submitted_at":       parquet.Optional(parquet.Timestamp(parquet.Millisecond)),
	"finished_at":        parquet.Optional(parquet.Timestamp(parquet.Millisecond)),
	"downloaded_at":      parquet.Optional(parquet.Timestamp(parquet.Millisecond)),
	"orphan":             parquet.Required(parquet.Leaf(parquet.BooleanType)),
	"cost_usd":           parquet.Optional(parquet.Leaf(parquet.DoubleType)),
	"cost_estimated_usd": parquet.Optional(parquet.Leaf(parquet.DoubleType)),
}

// ParquetWriter writes index entries as one Parquet file: one row per job,
// the index's own columns, each input field as a column of its schema's
// type (JSON text where the schema allows several), and each kept column as
// text. A job's result files are the repeated file, size and sha256.
type ParquetWriter struct {
	w      *parquet.GenericWriter[any]
	schema *parquet.Schema
	l      ParquetLayout
	kinds  map[string]manifest.FieldKind
	n      int
}

// NewParquetWriter returns a writer of l's columns to w. A field or kept
// column with the name of one of the index's own columns, or of each
// other, is refused: a reader would take one for the other.
func NewParquetWriter(w io.Writer, l ParquetLayout) (*ParquetWriter, error) {
	group := parquet.Group{}
	for name, n := range parquetOwn {
		group[name] = n
	}
	kinds := map[string]manifest.FieldKind{}
	for _, f := range l.Fields {
		if _, dup := group[f]; dup {
			return nil, fmt.Errorf("input field %q has the name of an index column; rename it (--map) to export Parquet", f)
		}
		k := manifest.KindJSON
		if l.Kinds != nil {
			if kk, ok := l.Kinds(f); ok {
				k = kk
			}
		}
		kinds[f] = k
		group[f] = parquet.Optional(kindNode(k))
	}
	for _, c := range l.Kept {
		if _, dup := group[c]; dup {
			return nil, fmt.Errorf("kept column %q has the name of an index column or input field; rename it to export Parquet", c)
		}
		group[c] = parquet.Optional(parquet.String())
	}
	schema := parquet.NewSchema("results", group)
	return &ParquetWriter{w: parquet.NewGenericWriter[any](w, schema), schema: schema, l: l, kinds: kinds}, nil
}

func kindNode(k manifest.FieldKind) parquet.Node {
	switch k {
	case manifest.KindInteger:
		return parquet.Int(64)
	case manifest.KindNumber:
		return parquet.Leaf(parquet.DoubleType)
	case manifest.KindBoolean:
		return parquet.Leaf(parquet.BooleanType)
	case manifest.KindJSON:
		return parquet.JSON()
	}
	return parquet.String()
}

// Rows is how many rows have been written.
func (w *ParquetWriter) Rows() int { return w.n }

// Write adds e as a row.
func (w *ParquetWriter) Write(e Entry) error {
	cells := map[string][]any{
		"key": {e.Key}, "state": {string(e.State)}, "attempts": {int64(e.Attempts)}, "orphan": {e.Orphan},
		"line": optional(e.Line != 0, int64(e.Line)), "request_id": optional(e.RequestID != "", e.RequestID),
		"error": optional(e.Error != "", e.Error), "polls": optional(e.Polls != 0, int64(e.Polls)),
		"submitted_at": timeCell(e.SubmittedAt), "finished_at": timeCell(e.FinishedAt),
		"downloaded_at": timeCell(e.DownloadedAt),
		"cost_usd":      costCell(e.CostUSD), "cost_estimated_usd": costCell(e.CostEstimatedUSD),
	}
	for _, f := range e.Files {
		cells["file"] = append(cells["file"], f.Path)
		cells["size"] = append(cells["size"], f.Size)
		cells["sha256"] = append(cells["sha256"], f.SHA256)
	}
	if err := w.inputCells(e, cells); err != nil {
		return err
	}
	if err := keptCells(e, w.l.Kept, cells); err != nil {
		return err
	}
	row := make(parquet.Row, 0, len(w.schema.Columns())+len(e.Files)*3)
	for _, path := range w.schema.Columns() {
		leaf, _ := w.schema.Lookup(path...)
		vals := cells[path[0]]
		if len(vals) == 0 {
			row = append(row, parquet.NullValue().Level(0, 0, leaf.ColumnIndex))
			continue
		}
		for i, v := range vals {
			rep := 0
			if i > 0 {
				rep = 1
			}
			row = append(row, parquet.ValueOf(v).Level(rep, leaf.MaxDefinitionLevel, leaf.ColumnIndex))
		}
	}
	if _, err := w.w.WriteRows([]parquet.Row{row}); err != nil {
		return fmt.Errorf("job %s: %w", e.Key, err)
	}
	w.n++
	return nil
}

// Close writes the file's footer.
func (w *ParquetWriter) Close() error { return w.w.Close() }

func optional(present bool, v any) []any {
	if !present {
		return nil
	}
	return []any{v}
}

func timeCell(t time.Time) []any {
	if t.IsZero() {
		return nil
	}
	return []any{t.UnixMilli()}
}

func costCell(usd *float64) []any {
	if usd == nil || math.IsInf(*usd, 0) || math.IsNaN(*usd) {
		return nil
	}
	return []any{*usd}
}

// inputCells puts e's input values in cells, each as its field's kind.
func (w *ParquetWriter) inputCells(e Entry, cells map[string][]any) error {
	if len(e.Input) == 0 {
		return nil
	}
	members, err := orderedObject(e.Input)
	if err != nil {
		return fmt.Errorf("job %s: input: %w", e.Key, err)
	}
	for _, m := range members {
		if string(m.value) == "null" {
			continue // not set: absent, as in the request
		}
		k, ok := w.kinds[m.name]
		if !ok {
			return fmt.Errorf("job %s: input field %q is not in the export's layout", e.Key, m.name)
		}
		v, err := typedValue(k, m.value)
		if err != nil {
			return fmt.Errorf("job %s: field %s: %w", e.Key, m.name, err)
		}
		cells[m.name] = []any{v}
	}
	return nil
}

// typedValue reads a JSON value as kind k.
func typedValue(k manifest.FieldKind, raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch k {
	case manifest.KindJSON:
		return string(raw), nil
	case manifest.KindString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case manifest.KindInteger:
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return i, nil
			}
		}
	case manifest.KindNumber:
		if n, ok := v.(json.Number); ok {
			if f, err := n.Float64(); err == nil {
				return f, nil
			}
		}
	case manifest.KindBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s is not of the schema's type %s", raw, k)
}

// keptCells puts e's kept columns in cells as text: a JSON string as its
// text, any other value as its JSON.
func keptCells(e Entry, kept []string, cells map[string][]any) error {
	if len(e.Columns) == 0 {
		return nil
	}
	members, err := orderedObject(e.Columns)
	if err != nil {
		return fmt.Errorf("job %s: kept columns: %w", e.Key, err)
	}
	for _, m := range members {
		if !slices.Contains(kept, m.name) {
			return fmt.Errorf("job %s: kept column %q is not in the export's layout", e.Key, m.name)
		}
		var s string
		if json.Unmarshal(m.value, &s) != nil {
			s = string(m.value)
		}
		cells[m.name] = []any{s}
	}
	return nil
}

// KindLearner learns each input field's kind from the values the entries
// hold, for a batch whose schema is not at hand: a field whose every value
// is an integer is an integer, numbers a number, and so on; a field whose
// values differ in type is JSON text.
type KindLearner struct {
	kinds map[string]manifest.FieldKind
}

// Learn reads e's input values.
func (k *KindLearner) Learn(e Entry) {
	if len(e.Input) == 0 {
		return
	}
	members, err := orderedObject(e.Input)
	if err != nil {
		return
	}
	if k.kinds == nil {
		k.kinds = map[string]manifest.FieldKind{}
	}
	for _, m := range members {
		got := kindOfValue(m.value)
		if got == "" {
			continue
		}
		switch have, ok := k.kinds[m.name]; {
		case !ok || have == got:
			k.kinds[m.name] = got
		case have == manifest.KindInteger && got == manifest.KindNumber,
			have == manifest.KindNumber && got == manifest.KindInteger:
			k.kinds[m.name] = manifest.KindNumber
		default:
			k.kinds[m.name] = manifest.KindJSON
		}
	}
}

// Kind is the kind learnt for field; a Kinds.
func (k *KindLearner) Kind(field string) (manifest.FieldKind, bool) {
	kind, ok := k.kinds[field]
	return kind, ok
}

// kindOfValue is a JSON value's kind; "" for null.
func kindOfValue(raw json.RawMessage) manifest.FieldKind {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return manifest.KindJSON
	}
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return manifest.KindString
	case bool:
		return manifest.KindBoolean
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return manifest.KindInteger
		}
		return manifest.KindNumber
	}
	return manifest.KindJSON
}
