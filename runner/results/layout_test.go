package results_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// TestCSVExportOfAnyModel: an export with no schema (`export` reads only
// state files) takes its input columns from the jobs: Pika's, as always,
// for Pika jobs; the model's own fields otherwise; kept manifest columns
// last.
func TestCSVExportOfAnyModel(t *testing.T) {
	t.Parallel()
	entry := func(key, input, columns string) results.Entry {
		return results.NewEntry(store.Job{Key: key, Input: json.RawMessage(input), Columns: json.RawMessage(columns), State: store.StateDone})
	}
	export := func(t *testing.T, entries ...results.Entry) [][]string {
		t.Helper()
		var buf bytes.Buffer
		_, err := results.WriteIndex(context.Background(), results.WriteOptions{Format: results.CSV, To: &buf}, exportFunc(func(fn func(results.Entry) error) error {
			for _, e := range entries {
				if err := fn(e); err != nil {
					return err
				}
			}
			return nil
		}))
		require.NoError(t, err)
		recs, err := csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		return recs
	}

	t.Run("pika", func(t *testing.T) {
		t.Parallel()
		recs := export(t, entry("a", `{"image":"https://x/a.png","seed":3}`, ""))
		assert.Equal(t, results.CSVColumns, recs[0])
	})
	t.Run("another model", func(t *testing.T) {
		t.Parallel()
		recs := export(t,
			entry("a", `{"prompt":"a fox","steps":20,"tiling":true}`, `{"source":"web"}`),
			entry("b", `{"prompt":"an owl","guidance":7.5}`, `{"license":"CC0","source":"scan"}`))
		require.Len(t, recs, 3)
		assert.Equal(t, []string{"key", "line", "prompt", "steps", "tiling", "guidance", "state"}, recs[0][:7])
		assert.Equal(t, []string{"source", "license"}, recs[0][len(recs[0])-2:])
		assert.Equal(t, []string{"a", "", "a fox", "20", "true", "", "done"}, recs[1][:7])
		assert.Equal(t, []string{"b", "", "an owl", "", "", "7.5", "done"}, recs[2][:7])
		assert.Equal(t, []string{"scan", "CC0"}, recs[2][len(recs[2])-2:])
		assert.False(t, strings.Contains(strings.Join(recs[0], ","), "promptText"), "no Pika columns")
	})
}
