package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/pikabatch/pikabatch/runner/results"
)

// Dataset export formats, beside the index's csv and jsonl.
const (
	formatHF      = "hf"      // metadata.jsonl for Hugging Face's folder loaders
	formatParquet = "parquet" // the index as one Parquet file
)

// batchFolder is the folder whose files the index names: --out, or the
// first state file's folder.
func (o exportOptions) batchFolder() string {
	if o.batches.out != "" {
		return o.batches.out
	}
	return filepath.Dir(o.batches.states[0])
}

// exportHF writes metadata.jsonl beside the batch's videos (or to -o), so
// that load_dataset("videofolder", data_dir=…) reads the folder as it is.
func exportHF(ctx context.Context, o exportOptions, srcs []results.Exporter, stderr io.Writer) error {
	if o.from != "" && o.outFile == "-" {
		return usagef("--format hf with --from writes a file: give -o FILE (metadata.jsonl, to copy to the prefix)")
	}
	path := o.outFile
	if path == "-" {
		path = filepath.Join(o.batchFolder(), results.HFMetadataFile)
	}
	outDir := filepath.Dir(path)
	if o.from == "" {
		outDir = o.batchFolder()
	}
	absOut, err := filepath.Abs(outDir)
	if err != nil {
		return err
	}
	absMeta, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return err
	}
	lines, err := results.WriteHFFile(ctx, path, absOut, absMeta, srcs...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pikabatch: %d files of done jobs listed in %s (Hugging Face folder layout)\n", lines, path)
	return nil
}

// exportParquet writes the index as Parquet to -o: the input columns typed
// by pika's schema when they are its fields, else by the values the jobs
// hold.
func exportParquet(ctx context.Context, o exportOptions, srcs []results.Exporter, stderr io.Writer) error {
	if o.outFile == "-" {
		return usagef("--format parquet writes a file: give -o FILE")
	}
	rows, err := results.WriteParquetFile(ctx, o.outFile, srcs...)
	if err != nil {
		return err
	}
	from := "state file(s)"
	if o.from != "" {
		from = "index(es)"
	}
	fmt.Fprintf(stderr, "pikabatch: exported %d jobs from %d %s to %s (Parquet)\n", rows, len(srcs), from, o.outFile)
	return nil
}
