package manifest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

// TestKeptColumnsNeverShadowOwn: a kept column named like one of the
// export's own columns (Config.Reserved) is refused, whether kept by name
// or by "*", in any case: a reader of the export would take it for the
// job's own state or file.
func TestKeptColumnsNeverShadowOwn(t *testing.T) {
	t.Parallel()
	reserved := []string{"key", "line", "state", "request_id", "file"}
	t.Run("named", func(t *testing.T) {
		t.Parallel()
		_, _, err := readCfg(t, manifest.Config{Keep: []string{"note", "State"}, Reserved: reserved}, "m.csv", "image\nhttps://img.example.com/a.png\n")
		require.ErrorIs(t, err, manifest.ErrBadMapping)
		assert.ErrorContains(t, err, `"State"`)
	})
	t.Run("csv star", func(t *testing.T) {
		t.Parallel()
		_, _, err := readCfg(t, manifest.Config{Keep: []string{"*"}, Reserved: reserved}, "m.csv",
			"image,state,note,file\nhttps://img.example.com/a.png,failed,x,../../etc/passwd\n")
		var ve *manifest.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Len(t, ve.Errors, 2)
		assert.Equal(t, "state", ve.Errors[0].Field)
		assert.Equal(t, 1, ve.Errors[0].Line)
		assert.ErrorIs(t, ve.Errors[0], manifest.ErrReservedColumn)
		assert.Contains(t, ve.Errors[0].Error(), "pikabatch's own")
		assert.Equal(t, "file", ve.Errors[1].Field)
	})
	t.Run("jsonl star", func(t *testing.T) {
		t.Parallel()
		rows, errs, err := readCfg(t, manifest.Config{Keep: []string{"*"}, Reserved: reserved}, "m.jsonl",
			`{"image":"https://img.example.com/a.png","request_id":"x","note":"y"}`+"\n")
		require.NoError(t, err)
		assert.Empty(t, rows)
		require.Len(t, errs, 1)
		assert.Equal(t, "request_id", errs[0].Field)
		assert.ErrorIs(t, errs[0], manifest.ErrReservedColumn)
	})
	t.Run("others kept", func(t *testing.T) {
		t.Parallel()
		rows, errs, err := readCfg(t, manifest.Config{Keep: []string{"*"}, Reserved: reserved}, "m.csv",
			"image,note,state_name\nhttps://img.example.com/a.png,x,Ohio\n")
		require.NoError(t, err)
		require.Empty(t, errs)
		require.Len(t, rows, 1)
	})
}
