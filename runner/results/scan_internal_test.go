package results

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScanNamesATooLongLine: an index line over the cap ended recover with
// "token too long", no line named, every other line lost. That line is now
// skipped, read through without being held whole, the others read, and
// the line named at the end.
func TestScanNamesATooLongLine(t *testing.T) {
	t.Parallel()
	index := `{"key":"a","state":"done"}` + "\n" +
		`{"key":"b","error":"` + strings.Repeat("x", 300<<10) + `"}` + "\n" +
		`{"key":"c","state":"done"}` + "\n"
	var seen []string
	err := scan(strings.NewReader(index), 200<<10, func(_ int, e Entry) error {
		seen = append(seen, e.Key)
		return nil
	})
	var le *LongLinesError
	require.True(t, errors.As(err, &le), "%v", err)
	assert.Equal(t, []int{2}, le.Lines)
	assert.ErrorIs(t, err, ErrLineTooLong)
	assert.NotContains(t, err.Error(), "token too long")
	assert.Equal(t, []string{"a", "c"}, seen)

	// A last line without a line feed is read; blank lines are skipped.
	seen = nil
	require.NoError(t, scan(strings.NewReader("\n"+`{"key":"a"}`+"\n\n"+`{"key":"b"}`), 200<<10, func(_ int, e Entry) error {
		seen = append(seen, e.Key)
		return nil
	}))
	assert.Equal(t, []string{"a", "b"}, seen)
}
