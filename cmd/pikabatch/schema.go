package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pikabatch/pikabatch/manifest"
)

// loadSchema returns the input schema rows of model are checked against:
// the JSON Schema in file (--schema) if given, which works offline for any
// model; else the built-in one of the model. A model without either is
// checked as pika/pika-2-2/image-to-video, as every model was before
// schemas, until the catalog provides them (issue 11 item 1): a batch
// folder bound to another model must still be refused by its binding (exit
// 64, TestFolderBelongsToItsAPIAndModel), which is checked later.
func loadSchema(model, file string) (*manifest.Schema, error) {
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, usagef("--schema: %v", err)
		}
		s, err := manifest.CompileSchema(file, raw)
		if err != nil {
			return nil, usagef("--schema: %v", err)
		}
		return s, nil
	}
	if model == "" {
		model = manifest.PikaModel
	}
	if s, ok := manifest.BuiltinSchema(model); ok {
		return s, nil
	}
	return manifest.PikaSchema(), nil
}

// exportFields returns the CSV export's input columns for schema: nil
// (Pika's, as always) for the built-in Pika schema, else its fields.
func exportFields(s *manifest.Schema) []string {
	if s == nil || s.IsPika() {
		return nil
	}
	return s.Fields()
}

// registerColumnFlags adds --map and --keep-columns, which read a dataset
// as it is (issue 12).
func registerColumnFlags(fs *pflag.FlagSet, m *map[string]string, keep *[]string) {
	fs.StringToStringVar(m, "map", nil, "read the model's fields from the manifest's columns: `FIELD=COLUMN,...` (promptText=caption,image=url)")
	fs.StringSliceVar(keep, "keep-columns", nil, "carry these other `COLUMNS` (or '*' for all) verbatim into results.jsonl and exports")
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
