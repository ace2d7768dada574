package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"

	"github.com/pikabatch/pikabatch/store"
)

// HFMetadataFile is the file the Hugging Face image and video folder
// loaders read beside the media: load_dataset("videofolder", data_dir=DIR)
// pairs each line's file_name with its columns.
const HFMetadataFile = "metadata.jsonl"

// hfOwn are the columns the Hugging Face layout gives every line, before
// the row's inputs and kept columns; neither may take one of these names.
var hfOwn = []string{"file_name", "key", "request_id", "cost_usd", "cost_estimated_usd"}

// HFWriter writes a batch's done jobs as a Hugging Face folder dataset's
// metadata.jsonl: one line per result file, file_name relative to the
// folder the metadata file is in, then the key, the row's inputs as
// columns, its kept columns, the request ID and the cost. Jobs that are
// not done, or have no file, are no part of the dataset and are skipped.
type HFWriter struct {
	bw *bufio.Writer
	// rel turns a result file's path in the output folder into file_name.
	rel func(string) (string, error)
	n   int
}

// NewHFWriter returns a writer of metadata.jsonl to w, whose file will be
// in metaDir; the batch's files are in outDir.
func NewHFWriter(w io.Writer, outDir, metaDir string) *HFWriter {
	rel := func(p string) (string, error) {
		r, err := filepath.Rel(metaDir, filepath.Join(outDir, filepath.FromSlash(p)))
		if err != nil {
			return "", err
		}
		return filepath.ToSlash(r), nil
	}
	return &HFWriter{bw: bufio.NewWriter(w), rel: rel}
}

// Lines is how many lines (files) have been written.
func (w *HFWriter) Lines() int { return w.n }

// Write adds e's files to the dataset, if e is done.
func (w *HFWriter) Write(e Entry) error {
	if e.State != store.StateDone || len(e.Files) == 0 {
		return nil
	}
	cols, err := hfColumns(e)
	if err != nil {
		return err
	}
	for _, f := range e.Files {
		name, err := w.rel(f.Path)
		if err != nil {
			return fmt.Errorf("job %s: file %s: %w", e.Key, f.Path, err)
		}
		var line bytes.Buffer
		line.WriteByte('{')
		writeMember(&line, "file_name", mustJSON(name))
		writeMember(&line, "key", mustJSON(e.Key))
		for _, c := range cols {
			writeMember(&line, c.name, c.value)
		}
		if e.RequestID != "" {
			writeMember(&line, "request_id", mustJSON(e.RequestID))
		}
		if c, ok := finite(e.CostUSD); ok {
			writeMember(&line, "cost_usd", c)
		} else if c, ok := finite(e.CostEstimatedUSD); ok {
			writeMember(&line, "cost_estimated_usd", c)
		}
		line.WriteString("}\n")
		if _, err := w.bw.Write(line.Bytes()); err != nil {
			return err
		}
		w.n++
	}
	return nil
}

// Flush writes out what is buffered.
func (w *HFWriter) Flush() error { return w.bw.Flush() }

type hfColumn struct {
	name  string
	value json.RawMessage
}

// hfColumns are e's inputs, then its kept columns, each a top-level
// column: the loaders take any JSON value. A name that is one of the
// layout's own, or both an input and a kept column, is refused rather
// than shadowed: a reader would take the wrong value for it.
func hfColumns(e Entry) ([]hfColumn, error) {
	var cols []hfColumn
	seen := map[string]string{}
	for _, o := range hfOwn {
		seen[o] = "pikabatch's own column"
	}
	add := func(raw json.RawMessage, what string) error {
		if len(raw) == 0 {
			return nil
		}
		obj, err := orderedObject(raw)
		if err != nil {
			return fmt.Errorf("job %s: %s: %w", e.Key, what, err)
		}
		for _, m := range obj {
			if other, ok := seen[m.name]; ok {
				return fmt.Errorf("job %s: %s %q has the name of %s; rename it (--map or the manifest's header) to export as a dataset", e.Key, what, m.name, other)
			}
			seen[m.name] = "the " + what + " " + m.name
			cols = append(cols, m)
		}
		return nil
	}
	if err := add(e.Input, "input field"); err != nil {
		return nil, err
	}
	if err := add(e.Columns, "kept column"); err != nil {
		return nil, err
	}
	return cols, nil
}

// orderedObject reads a JSON object's members in their order.
func orderedObject(raw json.RawMessage) ([]hfColumn, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []hfColumn
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, hfColumn{name: name, value: v})
	}
	return out, nil
}

func writeMember(b *bytes.Buffer, name string, value json.RawMessage) {
	if b.Len() > 1 {
		b.WriteByte(',')
	}
	b.Write(mustJSON(name))
	b.WriteByte(':')
	b.Write(value)
}

// finite is a cost as JSON, unless it is missing or not a finite number
// (which JSON cannot carry).
func finite(usd *float64) (json.RawMessage, bool) {
	if usd == nil || math.IsInf(*usd, 0) || math.IsNaN(*usd) {
		return nil, false
	}
	return mustJSON(*usd), true
}

// mustJSON marshals a string or a finite number, which cannot fail.
func mustJSON(v any) json.RawMessage {
	p, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return p
}
