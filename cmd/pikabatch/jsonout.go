package main

import (
	"encoding/json"
	"io"
)

// writeJSON prints v as indented JSON for scripts.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
