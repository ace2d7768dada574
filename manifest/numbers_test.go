package manifest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

// TestNumbersAreJSONNumbers: a number or integer field takes JSON's number
// syntax only, so the API gets the value written; Go's other spellings
// (hex, underscores, leading zeros) are refused, as is a
// non-zero literal too small for a float64, which would go out as 0.
func TestNumbersAreJSONNumbers(t *testing.T) {
	t.Parallel()
	s, err := manifest.CompileSchema("n.json", []byte(`{"type":"object","properties":{"prompt":{"type":"string"},
		"guidance":{"type":"number"},"steps":{"type":"integer"}},"additionalProperties":false}`))
	require.NoError(t, err)
	bad := []struct{ field, cell, msg string }{
		{"guidance", "1e-400", `"1e-400" is too small to send as a number: it would be 0`},
		{"guidance", "0x1p4", `"0x1p4" is not a number`},
		{"guidance", "1_000", `"1_000" is not a number`},
		{"guidance", "+-5", `"+-5" is not a number`},
		{"guidance", ".5", `".5" is not a number`},
		{"guidance", "5.", `"5." is not a number`},
		{"guidance", "05", `"05" is not a number`},
		{"steps", "0x10", `"0x10" is not an integer`},
		{"steps", "1_0", `"1_0" is not an integer`},
		{"steps", "+0x5", `"+0x5" is not an integer`},
		{"steps", "007", `"007" is not an integer`},
	}
	for _, tt := range bad {
		t.Run("csv "+tt.field+" "+tt.cell, func(t *testing.T) {
			t.Parallel()
			rows, errs := readWith(t, s, "m.csv", "prompt,"+tt.field+"\na,"+tt.cell+"\n")
			assert.Empty(t, rows)
			require.Len(t, errs, 1)
			assert.Equal(t, "m.csv:2: field "+tt.field+": ", errs[0].Error()[:len("m.csv:2: field "+tt.field+": ")])
			assert.Contains(t, errs[0].Error(), tt.msg)
			if tt.field == "steps" {
				assert.ErrorIs(t, errs[0], manifest.ErrInvalidInteger)
			} else {
				assert.ErrorIs(t, errs[0], manifest.ErrInvalidType)
			}
		})
	}
	t.Run("jsonl underflow", func(t *testing.T) {
		t.Parallel()
		rows, errs := readWith(t, s, "m.jsonl", `{"prompt":"a","guidance":1e-400}`+"\n"+`{"prompt":"a","guidance":"1E-999"}`+"\n")
		assert.Empty(t, rows)
		require.Len(t, errs, 2)
		assert.Contains(t, errs[0].Error(), `m.jsonl:1: field guidance: "1e-400" is too small to send as a number`)
		assert.Contains(t, errs[1].Error(), `m.jsonl:2: field guidance: "1E-999" is too small`)
	})
	good := map[string]string{"0": "0", "-0": "0", "0.0": "0", "0e5": "0", "1E2": "100", "-2.5e+3": "-2500", "1e-300": "1e-300", "7.5": "7.5", "+5": "5"}
	for cell, want := range good {
		t.Run("good "+cell, func(t *testing.T) {
			t.Parallel()
			for name, content := range map[string]string{
				"m.csv":   "prompt,guidance\na," + cell + "\n",
				"m.jsonl": `{"prompt":"a","guidance":` + cell + "}\n",
			} {
				if name == "m.jsonl" && cell[0] == '+' {
					continue // not JSON; a CSV cell may have the sign earlier versions read
				}
				rows, errs := readWith(t, s, name, content)
				require.Empty(t, errs, name)
				require.Len(t, rows, 1)
				assert.Equal(t, want, rows[0].Input.Text("guidance"), name)
			}
		})
	}
}
