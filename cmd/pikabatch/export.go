package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/results"
)

// exportOptions are export's flags.
type exportOptions struct {
	batches batchFlags
	from    string // a bucket prefix the batch's indexes were copied to
	format  string
	outFile string // "-": stdout
}

func newExportCmd(stdout, stderr io.Writer) *cobra.Command {
	var o exportOptions
	c := &cobra.Command{
		Use:   "export --out DIR | --from BUCKET_URL [--format csv|jsonl|hf|parquet] [-o FILE]",
		Short: "Write the dataset's index: one row per job (also of a live run)",
		Long: `Write the dataset's index: one row per job of one or several state files
(shards), from a live run if one holds a file. --format hf writes the
batch folder's metadata.jsonl, one line per video of a done job, so that
Hugging Face's load_dataset("videofolder", data_dir=DIR) reads the folder
as it is; --format parquet writes the index as Parquet, the input columns
typed. With --from, the batch is read from the results indexes its runs
copied to a bucket prefix (--sync-to), every shard's merged; --format hf
then writes metadata.jsonl for that prefix (file_name relative to it):
copy it there to load the bucket as a dataset.`,
		Example: `  pikabatch export --out out > index.jsonl
  pikabatch export --out out --format csv -o index.csv
  pikabatch export --out out --format hf
  pikabatch export --out out -o index.parquet
  pikabatch export --state a/.pikabatch.db --state b/.pikabatch.db -o all.jsonl
  pikabatch export --from s3://renders/batch1 -o all.csv`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runExport(c.Context(), o, stdout, stderr)
		},
	}
	fs := c.Flags()
	o.batches.register(fs)
	fs.StringVar(&o.format, "format", "", "csv, jsonl, hf (metadata.jsonl in the batch folder, for Hugging Face's folder loaders) or parquet (default: by -o's extension, else jsonl)")
	fs.StringVarP(&o.outFile, "output", "o", "-", "write to `file` (atomically) instead of stdout")
	fs.StringVar(&o.from, "from", "", fromUsage)
	markBatchOrFromRequired(c)
	completeWords(c, "format", "csv", "jsonl", string(results.HF), string(results.Parquet))
	return c
}

// runExport writes the index of every batch o names.
func runExport(ctx context.Context, o exportOptions, stdout, stderr io.Writer) error {
	f, err := results.FormatFor(o.format, o.outFile)
	if err != nil {
		return usagef("--format: %v", err)
	}
	if o.outFile == "-" && f == results.Parquet {
		return usagef("--format parquet writes a file: give -o FILE")
	}
	if o.outFile == "-" && f == results.HF && o.from != "" {
		return usagef("--format hf with --from writes a file: give -o FILE (metadata.jsonl, to copy to the prefix)")
	}
	ec := results.ExportConfig{Format: f, Path: o.outFile, To: stdout, Remote: o.from != ""}
	var srcs []results.Exporter
	if o.from != "" {
		ixs, client, err := bucketIndexes(ctx, o.from)
		if err != nil {
			return err
		}
		defer client.Close()
		srcs = results.Exporters(ixs)
	} else {
		batches, err := o.batches.open(ctx, live.OpenOptions{})
		if err != nil {
			return err
		}
		defer live.CloseAll(batches)
		srcs, ec.Folder = results.Exporters(batches), o.batchFolder()
	}
	line, err := results.Export(ctx, ec, srcs...)
	if line != "" {
		fmt.Fprintf(stderr, "pikabatch: %s\n", line)
	}
	return err
}

// batchFolder is the folder whose files the index names: --out, or the
// first state file's folder.
func (o exportOptions) batchFolder() string {
	if o.batches.out != "" {
		return o.batches.out
	}
	return filepath.Dir(o.batches.states[0])
}
