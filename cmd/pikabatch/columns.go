package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pikabatch/pikabatch/manifest"
)

// registerColumnFlags adds --map and --keep-columns, which read a dataset
// as it is, with no columns renamed or dropped first.
func registerColumnFlags(fs *pflag.FlagSet, m *map[string]string, keep *[]string) {
	fs.StringToStringVar(m, "map", nil, "read the model's fields from the manifest's columns: `FIELD=COLUMN,...` (promptText=caption,image=url)")
	fs.StringSliceVar(keep, "keep-columns", nil, "carry these other `COLUMNS` (or '*' for all) verbatim into results.jsonl and exports; a column named like an export column of its own (state, file, request_id...) is refused")
}

// printMapping prints the mapping validate applied.
func printMapping(w io.Writer, cfg manifest.Config) {
	mapped, kept := cfg.Mapping()
	if len(mapped) > 0 {
		parts := make([]string, len(mapped))
		for i, m := range mapped {
			parts[i] = m[0] + " ← " + m[1]
		}
		fmt.Fprintf(w, "  mapping: %s\n", strings.Join(parts, ", "))
	}
	switch {
	case len(kept) == 1 && kept[0] == "*":
		fmt.Fprintln(w, "  kept: every other column")
	case len(kept) > 0:
		fmt.Fprintf(w, "  kept: %s\n", strings.Join(kept, ", "))
	}
}
