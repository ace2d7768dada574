package main

import (
	"os"

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
