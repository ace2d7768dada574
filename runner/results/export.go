package results

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/atomicfile"
)

// Exporter is anything that can list a batch's index entries: the state
// file, a live run through its socket, the store a run writes.
type Exporter interface {
	Export(ctx context.Context, fn func(Entry) error) error
}

// WriteOptions say what WriteIndex writes and where.
type WriteOptions struct {
	Format Format
	// Layout lays out a CSV export. The zero Layout is found from the
	// entries (DiscoverLayout), which reads the sources twice.
	Layout CSVLayout
	// Path is the file written, atomically: a temporary file in the same
	// folder, fsynced and renamed over Path, so that a reader sees the old
	// index or the new one. Without a Path, WriteIndex writes to To.
	Path string
	To   io.Writer
}

// WriteIndex writes the entries of every source, in order, as o says, and
// returns the number of entries written.
func WriteIndex(ctx context.Context, o WriteOptions, sources ...Exporter) (int, error) {
	if o.Path == "" {
		return writeIndex(ctx, o.To, o.Format, o.Layout, sources)
	}
	var n int
	err := WriteFile(o.Path, func(w io.Writer) error {
		var err error
		n, err = writeIndex(ctx, w, o.Format, o.Layout, sources)
		return err
	})
	return n, err
}

// WriteFile writes path through fn as every index and export is written:
// a temporary file in the same folder, fsynced and renamed over path, so a
// reader sees the old file or the new one. fn's error comes back wrapped
// with the path; a folder that cannot be written is ErrOutput, typed so
// that a command exits "cannot create" (73), not "some rows failed".
func WriteFile(path string, fn func(io.Writer) error) error {
	var ferr error
	err := atomicfile.Write(path, Perm, func(w io.Writer) error {
		ferr = fn(w)
		return ferr
	})
	switch {
	case ferr != nil:
		return fmt.Errorf("write %s: %w", path, ferr)
	case err != nil:
		return fmt.Errorf("write %s: %w: %w", path, ErrOutput, err)
	}
	return nil
}

// writeIndex writes the entries of every source to w in format f, a CSV
// export laid out as l (or by DiscoverLayout, for the zero l). The
// sources are read on the caller's goroutine and encoded on another, in
// batches, so that reading the store and encoding overlap.
func writeIndex(ctx context.Context, w io.Writer, f Format, l CSVLayout, sources []Exporter) (int, error) {
	if f == CSV && l.Fields == nil && l.Kept == nil {
		var err error
		if l, err = DiscoverLayout(ctx, sources...); err != nil {
			return 0, err
		}
	}
	iw, err := newIndexWriter(w, f, l)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan []Entry, 4)
	var writeErr error // set by the writer before it cancels ctx
	var wg sync.WaitGroup
	wg.Go(func() {
		writeErr = encodeBatches(iw, batches)
		if writeErr != nil {
			cancel(writeErr)
			for range batches { // let the sender finish
			}
		}
	})
	n, err := sendBatches(ctx, batches, sources)
	close(batches)
	wg.Wait()
	if writeErr != nil {
		return n, writeErr
	}
	if err != nil {
		return n, err
	}
	return n, iw.Flush()
}

// encodeBatches writes every entry received to iw, until batches is closed
// or a write fails.
func encodeBatches(iw indexWriter, batches <-chan []Entry) error {
	for batch := range batches {
		for _, e := range batch {
			if err := iw.Write(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendBatches reads every source in turn and sends its entries to batches,
// indexBatch at a time; it returns how many entries it read.
func sendBatches(ctx context.Context, batches chan<- []Entry, sources []Exporter) (int, error) {
	n := 0
	batch := make([]Entry, 0, indexBatch)
	send := func() error {
		select {
		case batches <- batch:
			batch = make([]Entry, 0, indexBatch)
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	for _, src := range sources {
		err := src.Export(ctx, func(e Entry) error {
			n++
			batch = append(batch, e)
			if len(batch) < indexBatch {
				return nil
			}
			return send()
		})
		if err != nil {
			return n, err
		}
	}
	if len(batch) > 0 {
		return n, send()
	}
	return n, nil
}

// indexBatch is how many entries WriteIndex hands its writer at a time:
// enough to make the hand-over cheap, few enough to keep memory flat.
const indexBatch = 256

// DiscoverLayout finds a CSV export's columns from the entries themselves,
// for an export that has no schema (`export` reads only state files): the
// input fields of pika/pika-2-2/image-to-video, as always, when every
// entry's input keys are among them, else every input key met, in the
// order met; and every kept column met, in the order met. It reads the
// sources once, holding only the names.
func DiscoverLayout(ctx context.Context, sources ...Exporter) (CSVLayout, error) {
	pika := manifest.PikaSchema().Fields()
	var l CSVLayout
	var fields []string
	seen := map[string]bool{}
	keptSeen := map[string]bool{}
	onlyPika := true
	for _, src := range sources {
		err := src.Export(ctx, func(e Entry) error {
			var in manifest.Input
			if len(e.Input) > 0 && json.Unmarshal(e.Input, &in) == nil {
				for _, f := range in.Fields() {
					if !seen[f.Name] {
						seen[f.Name] = true
						fields = append(fields, f.Name)
						onlyPika = onlyPika && slices.Contains(pika, f.Name)
					}
				}
			}
			if len(e.Columns) > 0 {
				var cols map[string]json.RawMessage
				if json.Unmarshal(e.Columns, &cols) == nil {
					// A JSON object's order is lost in a map: met names
					// are sorted, so that the layout does not vary.
					names := make([]string, 0, len(cols))
					for n := range cols {
						if !keptSeen[n] {
							names = append(names, n)
						}
					}
					slices.Sort(names)
					for _, n := range names {
						keptSeen[n] = true
						l.Kept = append(l.Kept, n)
					}
				}
			}
			return nil
		})
		if err != nil {
			return CSVLayout{}, err
		}
	}
	if !onlyPika {
		l.Fields = fields
	}
	return l, nil
}
