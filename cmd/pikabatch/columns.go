package main

import (
	"github.com/spf13/pflag"

	"github.com/pikabatch/pikabatch/runner/batch"
)

// registerColumnFlags adds --map and --keep-columns, which read a dataset
// as it is, with no columns renamed or dropped first.
func registerColumnFlags(fs *pflag.FlagSet, c *batch.Config) {
	fs.StringToStringVar(&c.ColumnMap, "map", nil, "read the model's fields from the manifest's columns: `FIELD=COLUMN,...` (promptText=caption,image=url)")
	fs.StringSliceVar(&c.KeepColumns, "keep-columns", nil, "carry these other `COLUMNS` (or '*' for all) verbatim into results.jsonl and exports; a column named like an export column of its own (state, file, request_id...) is refused")
}
