package results

import (
	"context"
	"io"

	"github.com/pikabatch/pikabatch/manifest"
)

// WriteHFFile writes metadata.jsonl at path (WriteFile: whole or not at
// all) from every source's done jobs, naming each file relative to the
// metadata's folder; outDir is the batch's folder, where the files are.
// It returns how many files it listed.
func WriteHFFile(ctx context.Context, path, outDir, metaDir string, srcs ...Exporter) (int, error) {
	var lines int
	err := WriteFile(path, func(w io.Writer) error {
		hw := NewHFWriter(w, outDir, metaDir)
		for _, s := range srcs {
			if err := s.Export(ctx, hw.Write); err != nil {
				return err
			}
		}
		lines = hw.Lines()
		return hw.Flush()
	})
	return lines, err
}

// WriteParquetFile writes the sources' index as one Parquet file at path,
// and returns how many rows it wrote. The input columns are typed by
// pika's schema when the jobs name no fields of their own, else by the
// values the jobs hold.
func WriteParquetFile(ctx context.Context, path string, srcs ...Exporter) (int, error) {
	csvl, err := DiscoverLayout(ctx, srcs...)
	if err != nil {
		return 0, err
	}
	l := ParquetLayout{Fields: csvl.Fields, Kept: csvl.Kept}
	if l.Fields == nil {
		pika := manifest.PikaSchema()
		l.Fields, l.Kinds = pika.Fields(), pika.FieldKind
	} else {
		var learn KindLearner
		for _, s := range srcs {
			if err := s.Export(ctx, func(e Entry) error { learn.Learn(e); return nil }); err != nil {
				return 0, err
			}
		}
		l.Kinds = learn.Kind
	}
	var rows int
	err = WriteFile(path, func(w io.Writer) error {
		pw, err := NewParquetWriter(w, l)
		if err != nil {
			return err
		}
		for _, s := range srcs {
			if err := s.Export(ctx, pw.Write); err != nil {
				return err
			}
		}
		rows = pw.Rows()
		return pw.Close()
	})
	return rows, err
}
