package probe

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/redact"
)

// ErrBadURLs is returned by CheckRows when some file URLs would fail their
// jobs.
var ErrBadURLs = errors.New("image URLs failed the check")

// RowCheck is the verdict on one file input of a manifest row.
type RowCheck struct {
	Line  int    `json:"line"`
	Key   string `json:"key"`
	Field string `json:"field,omitempty"` // the file input checked, for models with several
	Result
}

// Tally counts the URLs checked and those that would fail their jobs, and
// the rows they are in: a model with several file inputs has several URLs
// a row.
type Tally struct {
	Checked, Bad  int // URLs
	Rows, BadRows int
	// SeveralPerRow is set when the schema has several file inputs.
	SeveralPerRow bool

	lastLine, lastBad int // the line of the last row counted, and of the last bad one
}

// add counts the verdict of one URL of the row at line; verdicts come in
// manifest order.
func (t *Tally) add(line int, ok bool) {
	t.Checked++
	if line != t.lastLine {
		t.Rows++
		t.lastLine = line
	}
	if !ok {
		t.Bad++
		if line != t.lastBad {
			t.BadRows++
			t.lastBad = line
		}
	}
}

// Rows are a manifest's valid rows, in file order, as *manifest.Reader
// yields them.
type Rows interface {
	// Next returns the next valid row, or io.EOF after the last.
	Next() (manifest.Row, error)
	// Schema is the model's schema, which names the file inputs.
	Schema() *manifest.Schema
}

// CheckRows asks each file host about every file input of every row (the
// schema's file fields: Pika's image) and passes each verdict to emit as
// it comes, in manifest order: nothing is kept, so a manifest of any size
// is checked in bounded memory (Run). URLs reach emit redacted. It
// returns ErrBadURLs, wrapped, when some would fail their jobs.
func CheckRows(ctx context.Context, c *Checker, rows Rows, emit func(RowCheck)) (Tally, error) {
	var t Tally
	var readErr error
	fields := rows.Schema().FileFields()
	t.SeveralPerRow = len(fields) > 1
	var pending []Item[fileInput] // the current row's file inputs not yet handed out
	next := func() (Item[fileInput], bool) {
		for len(pending) == 0 {
			row, err := rows.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				return Item[fileInput]{}, false
			}
			pending = appendFileInputs(pending, row, fields)
		}
		it := pending[0]
		pending = pending[1:]
		return it, true
	}
	err := Run(ctx, c, next, func(it Item[fileInput], res Result) {
		// Shown, not fetched: without credentials or signatures, which a
		// printed report must not leak.
		res.URL = redact.URL(res.URL)
		t.add(it.Data.row.Line, res.OK)
		emit(RowCheck{Line: it.Data.row.Line, Key: it.Data.row.Key, Field: it.Data.field, Result: res})
	})
	if err == nil {
		err = readErr
	}
	if err != nil {
		return t, err
	}
	if t.Bad > 0 {
		return t, fmt.Errorf("%d of %d rows: %w", t.BadRows, t.Rows, ErrBadURLs)
	}
	return t, nil
}

// fileInput is one file input of a row to check.
type fileInput struct {
	row   manifest.Row
	field string // set when the model has several file inputs
}

// appendFileInputs appends the items to check of row: one per file field
// it sets.
func appendFileInputs(items []Item[fileInput], row manifest.Row, fields []string) []Item[fileInput] {
	for _, f := range fields {
		if u, ok := row.Input.Lookup(f); ok {
			in := fileInput{row: row}
			if len(fields) > 1 {
				in.field = f
			}
			// Each field is checked for what it takes: a video_url must
			// serve a video.
			items = append(items, Item[fileInput]{URL: u.(string), Kind: KindOf(f), Data: in})
		}
	}
	return items
}
