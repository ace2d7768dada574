package manifest

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Format is the syntax of a manifest file.
type Format int

// Manifest formats.
const (
	FormatAuto  Format = iota // choose by extension: .csv, .jsonl or .ndjson
	FormatCSV                 // comma-separated values with a header row
	FormatJSONL               // one JSON object per line
)

// ParseFormat parses a format name: "" or "auto", "csv", "jsonl" or
// "ndjson" (case-insensitive). An unknown name is an error wrapping
// ErrUnknownFormat.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return FormatAuto, nil
	case "csv":
		return FormatCSV, nil
	case "jsonl", "ndjson":
		return FormatJSONL, nil
	}
	return FormatAuto, fmt.Errorf("%w %q: want auto, csv or jsonl", ErrUnknownFormat, s)
}

// String returns the name ParseFormat accepts for f.
func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatCSV:
		return "csv"
	case FormatJSONL:
		return "jsonl"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// resolve returns the concrete format for a file called name.
func (f Format) resolve(name string) (Format, error) {
	switch f {
	case FormatCSV, FormatJSONL:
		return f, nil
	case FormatAuto:
		switch strings.ToLower(filepath.Ext(name)) {
		case ".csv":
			return FormatCSV, nil
		case ".jsonl", ".ndjson":
			return FormatJSONL, nil
		}
		return FormatAuto, fmt.Errorf("%w: cannot tell the format of %q from its extension (want .csv, .jsonl or .ndjson); name the format explicitly", ErrUnknownFormat, name)
	}
	return FormatAuto, fmt.Errorf("%w: %v", ErrUnknownFormat, f)
}
