// Package examples holds the example manifests users read, embedded so that
// `pikabatch demo` renders one from any folder after `go install`.
package examples

import _ "embed"

// ManifestCSV is manifest.csv: eight rows of the demo's model.
//
//go:embed manifest.csv
var ManifestCSV []byte
