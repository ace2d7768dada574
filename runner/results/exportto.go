package results

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/pikabatch/pikabatch/runner/account"
)

// Dataset formats, beside the index's CSV and JSONL: files only, never a
// stream, and not for WriteIndex.
const (
	HF      Format = "hf"      // metadata.jsonl for Hugging Face's folder loaders
	Parquet Format = "parquet" // the index as one Parquet file
)

// FormatFor reads an export's format name, or, without one, goes by the
// extension of the file written to (else JSONL): every format Export
// writes.
func FormatFor(name, path string) (Format, error) {
	if name == "" {
		name = string(JSONL)
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			name = string(CSV)
		case ".parquet":
			name = string(Parquet)
		}
	}
	if f := Format(strings.ToLower(name)); f == HF || f == Parquet {
		return f, nil
	}
	f, err := ParseFormat(strings.ToLower(name))
	if err != nil {
		return "", fmt.Errorf("%w, hf or parquet", err)
	}
	return f, nil
}

// ExportConfig is one export of an index or dataset file.
type ExportConfig struct {
	Format Format
	// Path is the file written, whole or not at all; "-" is To, for the
	// index formats (an hf export then writes metadata.jsonl in Folder).
	Path string
	To   io.Writer
	// Folder is the batch folder whose files an hf export names; unused
	// for Remote sources.
	Folder string
	// Remote sources are the indexes runs copied to a bucket, not state
	// files: an hf export then names the files relative to Path's folder,
	// the copy of the bucket prefix.
	Remote bool
}

// Export writes the sources' index or dataset file as c says, and returns
// the line telling what it wrote, "" for a stream.
func Export(ctx context.Context, c ExportConfig, srcs ...Exporter) (string, error) {
	switch c.Format {
	case HF:
		return exportHF(ctx, c, srcs)
	case Parquet:
		rows, err := WriteParquetFile(ctx, c.Path, srcs...)
		if err != nil {
			return "", err
		}
		from := "state file(s)"
		if c.Remote {
			from = "index(es)"
		}
		return fmt.Sprintf("exported %d jobs from %d %s to %s (Parquet)", rows, len(srcs), from, c.Path), nil
	}
	if c.Path == "-" {
		_, err := WriteIndex(ctx, WriteOptions{Format: c.Format, To: c.To}, srcs...)
		return "", err
	}
	n, err := WriteIndex(ctx, WriteOptions{Format: c.Format, Path: c.Path}, srcs...)
	if err != nil {
		return "", err
	}
	from := "state file"
	if c.Remote {
		from = "index"
	}
	return fmt.Sprintf("exported %s from %s to %s", account.Plural(n, "job"), account.Plural(len(srcs), from), c.Path), nil
}

// exportHF writes metadata.jsonl beside the batch's videos (or to Path),
// so that load_dataset("videofolder", data_dir=…) reads the folder as it
// is.
func exportHF(ctx context.Context, c ExportConfig, srcs []Exporter) (string, error) {
	path := c.Path
	if path == "-" {
		path = filepath.Join(c.Folder, HFMetadataFile)
	}
	outDir := c.Folder
	if c.Remote {
		outDir = filepath.Dir(path)
	}
	absOut, err := filepath.Abs(outDir)
	if err != nil {
		return "", err
	}
	absMeta, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return "", err
	}
	lines, err := WriteHFFile(ctx, path, absOut, absMeta, srcs...)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d files of done jobs listed in %s (Hugging Face folder layout)", lines, path), nil
}

// Exporters lists the sources of an export: state files, indexes, …
func Exporters[T Exporter](srcs []T) []Exporter {
	exps := make([]Exporter, len(srcs))
	for i, s := range srcs {
		exps[i] = s
	}
	return exps
}
