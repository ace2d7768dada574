package manifest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

func TestRowErrorError(t *testing.T) {
	t.Parallel()
	msg := errors.New(`"1080" is not one of 720p, 1080p`)
	tests := []struct {
		name string
		err  manifest.RowError
		want string
	}{
		{"all parts", manifest.RowError{File: "examples/a.csv", Line: 7, Field: "resolution", Err: msg},
			`examples/a.csv:7: field resolution: "1080" is not one of 720p, 1080p`},
		{"no field", manifest.RowError{File: "a.csv", Line: 7, Err: msg}, `a.csv:7: "1080" is not one of 720p, 1080p`},
		{"no line", manifest.RowError{File: "a.csv", Err: msg}, `a.csv: "1080" is not one of 720p, 1080p`},
		{"no file", manifest.RowError{Line: 7, Field: "resolution", Err: msg}, `line 7: field resolution: "1080" is not one of 720p, 1080p`},
		{"only err", manifest.RowError{Err: msg}, `"1080" is not one of 720p, 1080p`},
		{"no err", manifest.RowError{File: "a.csv", Line: 2}, `a.csv:2: invalid row`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.err.Error())
		})
	}
}

func TestValidationErrorError(t *testing.T) {
	t.Parallel()
	e1 := &manifest.RowError{File: "a.csv", Line: 2, Field: "seed", Err: fmt.Errorf("bad: %w", manifest.ErrInvalidInteger)}
	e2 := &manifest.RowError{File: "a.csv", Line: 5, Field: "id", Err: fmt.Errorf("dup: %w", manifest.ErrDuplicateID)}

	t.Run("all kept", func(t *testing.T) {
		t.Parallel()
		ve := &manifest.ValidationError{File: "a.csv", Errors: []*manifest.RowError{e1, e2}, Total: 2}
		assert.Equal(t, "a.csv: invalid manifest: 2 errors\na.csv:2: field seed: bad: invalid integer\na.csv:5: field id: dup: duplicate id", ve.Error())
	})
	t.Run("some counted only", func(t *testing.T) {
		t.Parallel()
		ve := &manifest.ValidationError{File: "a.csv", Errors: []*manifest.RowError{e1}, Total: 1235}
		lines := strings.Split(ve.Error(), "\n")
		assert.Equal(t, []string{"a.csv: invalid manifest: 1235 errors", "a.csv:2: field seed: bad: invalid integer", "... and 1234 more errors"}, lines)
	})
	t.Run("one", func(t *testing.T) {
		t.Parallel()
		ve := &manifest.ValidationError{File: "a.csv", Errors: []*manifest.RowError{e1}, Total: 1}
		assert.Equal(t, "a.csv: invalid manifest: 1 error\na.csv:2: field seed: bad: invalid integer", ve.Error())
	})
	t.Run("unwraps to its row errors", func(t *testing.T) {
		t.Parallel()
		var err error = fmt.Errorf("validate: %w", &manifest.ValidationError{File: "a.csv", Errors: []*manifest.RowError{e1, e2}, Total: 2})
		assert.ErrorIs(t, err, manifest.ErrInvalidInteger)
		assert.ErrorIs(t, err, manifest.ErrDuplicateID)
		assert.NotErrorIs(t, err, manifest.ErrEmpty)
		var re *manifest.RowError
		require.ErrorAs(t, err, &re)
		assert.Same(t, e1, re)
	})
}
