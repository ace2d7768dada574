package manifest_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenPikaKeys pins, for a corpus of Pika rows (CSV and JSONL, with
// and without ids, unicode, escapes, seeds 0 and negative, defaults unset
// and explicit, aliases, trimmed values), each row's key, parameter hash
// and submit body as the code of main before the schema-driven manifest
// computed them (the golden file was written by that code, then frozen).
// A changed key or hash makes a resumed run resubmit: the user pays twice.
func TestGoldenPikaKeys(t *testing.T) {
	var got strings.Builder
	for _, name := range []string{"pika.csv", "pika.jsonl"} {
		path := filepath.Join("testdata", "golden", name)
		r, err := manifest.Open(path, manifest.FormatAuto)
		require.NoError(t, err)
		for {
			row, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			body, err := json.Marshal(row.Input)
			require.NoError(t, err)
			// runner/live rebuilds a job from its recorded body on
			// recovery: the body must hash as the row does.
			var back manifest.Input
			require.NoError(t, json.Unmarshal(body, &back))
			assert.Equal(t, row.Input.Hash(), back.Hash(), "%s:%d: the body hashes differently", name, row.Line)
			fmt.Fprintf(&got, "%s:%d key=%s hash=%s body=%s\n", name, row.Line, row.Key, row.Input.Hash(), body)
		}
		require.NoError(t, r.Close())
	}
	golden := filepath.Join("testdata", "golden", "pika.keys")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got.String())
}
