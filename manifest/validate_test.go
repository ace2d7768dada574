package manifest_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

// writeManifest writes content to a file called name in a temporary
// directory and returns its path.
func writeManifest(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestValidateReportsAllErrors(t *testing.T) {
	t.Parallel()
	path := writeManifest(t, "m.csv", "id,image,resolution,duration,seed\n"+
		"a,"+img+",720p,10,\n"+ // 2
		"b,"+img+",1080,,\n"+ // 3
		"c,"+img+",,,\n"+ // 4
		"d,ftp://x/a.png,,7,\n"+ // 5: two problems
		"a,"+img+",,,\n"+ // 6
		","+img+",,,1\n"+ // 7
		","+img+",,,1\n") // 8

	var seen []string
	sum, err := manifest.Validate(context.Background(), path, manifest.FormatAuto, func(row manifest.Row) error {
		seen = append(seen, row.Key)
		return nil
	})
	var ve *manifest.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, path, ve.File)
	assert.Equal(t, 4, ve.Total)
	require.Len(t, ve.Errors, 4)
	type got struct {
		Line  int
		Field string
	}
	var gots []got
	for _, e := range ve.Errors {
		gots = append(gots, got{e.Line, e.Field})
		assert.Equal(t, path, e.File)
	}
	assert.Equal(t, []got{{3, "resolution"}, {5, "image"}, {5, "duration"}, {6, "id"}}, gots)
	assert.ErrorIs(t, err, manifest.ErrInvalidEnum)
	assert.ErrorIs(t, err, manifest.ErrInvalidURL)
	assert.ErrorIs(t, err, manifest.ErrDuplicateID)

	k := derivedKey(manifest.PikaFields{Image: img, Seed: ptr(int64(1))}.Input())
	assert.Equal(t, []string{"a", "c", k, k + "-2"}, seen, "fn sees every valid row in order")
	assert.Equal(t, manifest.Summary{
		Rows:          4,
		ByResolution:  map[string]int{"720p": 1, "1080p": 3},
		ByDuration:    map[int]int{10: 1, 5: 3},
		DuplicateRows: 1,
		WithoutID:     2,
	}, sum)

	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 5)
	assert.Equal(t, path+": invalid manifest: 4 errors", lines[0])
	assert.Equal(t, path+`:3: field resolution: "1080" is not one of 720p, 1080p`, lines[1])
}

func TestValidateValid(t *testing.T) {
	t.Parallel()
	path := writeManifest(t, "m.jsonl", `{"image":"`+img+`"}`+"\n"+`{"image":"`+img+`","duration":10,"resolution":"720p"}`+"\n")
	sum, err := manifest.Validate(context.Background(), path, manifest.FormatAuto, nil)
	require.NoError(t, err)
	assert.Equal(t, manifest.Summary{
		Rows:         2,
		ByResolution: map[string]int{"1080p": 1, "720p": 1},
		ByDuration:   map[int]int{5: 1, 10: 1},
		WithoutID:    2,
	}, sum)
}

func TestValidateKeepsAtMostMaxErrors(t *testing.T) {
	t.Parallel()
	const bad = manifest.MaxErrors + 500
	var b strings.Builder
	b.WriteString("image,duration\n")
	for range bad {
		b.WriteString(img + ",7\n")
	}
	b.WriteString(img + ",5\n")
	path := writeManifest(t, "m.csv", b.String())

	sum, err := manifest.Validate(context.Background(), path, manifest.FormatAuto, nil)
	var ve *manifest.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, bad, ve.Total)
	assert.Len(t, ve.Errors, manifest.MaxErrors)
	assert.Equal(t, 1, sum.Rows)
	assert.True(t, strings.HasSuffix(err.Error(), "\n... and 500 more errors"))
}

func TestValidateStops(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("image,seed\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "%s,%d\n", img, i)
	}
	path := writeManifest(t, "m.csv", b.String())

	t.Run("fn error", func(t *testing.T) {
		t.Parallel()
		errStop := errors.New("stop")
		calls := 0
		_, err := manifest.Validate(context.Background(), path, manifest.FormatAuto, func(manifest.Row) error {
			calls++
			if calls == 2 {
				return errStop
			}
			return nil
		})
		require.ErrorIs(t, err, errStop)
		assert.Equal(t, 2, calls)
	})

	t.Run("context cancelled before", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := manifest.Validate(ctx, path, manifest.FormatAuto, nil)
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("context cancelled during", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		_, err := manifest.Validate(ctx, path, manifest.FormatAuto, func(manifest.Row) error {
			calls++
			if calls == 1 {
				cancel()
			}
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		assert.Less(t, calls, 5000)
	})
}

func TestValidateFileProblems(t *testing.T) {
	t.Parallel()

	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "nope.csv")
		_, err := manifest.Validate(context.Background(), path, manifest.FormatAuto, nil)
		require.ErrorIs(t, err, fs.ErrNotExist)
		assert.Contains(t, err.Error(), path)
		var ve *manifest.ValidationError
		assert.False(t, errors.As(err, &ve))

		_, err = manifest.Open(path, manifest.FormatCSV)
		require.ErrorIs(t, err, fs.ErrNotExist)
		var pe *fs.PathError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, path, pe.Path)
	})

	t.Run("bad header", func(t *testing.T) {
		t.Parallel()
		path := writeManifest(t, "m.csv", "image,promt,seeed\n"+img+",a,1\n")
		_, err := manifest.Validate(context.Background(), path, manifest.FormatAuto, nil)
		var ve *manifest.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Len(t, ve.Errors, 2)
		assert.Equal(t, "promt", ve.Errors[0].Field)
		assert.Equal(t, "seeed", ve.Errors[1].Field)
		assert.Equal(t, 1, ve.Errors[1].Line)

		_, err = manifest.Open(path, manifest.FormatAuto)
		require.ErrorAs(t, err, &ve)
	})

	t.Run("unknown extension", func(t *testing.T) {
		t.Parallel()
		path := writeManifest(t, "m.txt", "image\n"+img+"\n")
		_, err := manifest.Validate(context.Background(), path, manifest.FormatAuto, nil)
		require.ErrorIs(t, err, manifest.ErrUnknownFormat)
		_, err = manifest.Validate(context.Background(), path, manifest.FormatCSV, nil)
		require.NoError(t, err)
	})

	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "d.csv")
		require.NoError(t, os.Mkdir(dir, 0o700))
		_, err := manifest.Validate(context.Background(), dir, manifest.FormatAuto, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), dir)
	})
}
