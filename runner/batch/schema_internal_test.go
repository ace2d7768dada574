package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/sim"
)

type memMeta struct{ m map[string]string }

func (s *memMeta) Meta(_ context.Context, k string) (string, error) { return s.m[k], nil }
func (s *memMeta) SetMeta(_ context.Context, k, v string) error     { s.m[k] = v; return nil }

// TestInputSchemaRecordedWins: the schema a state file recorded is kept
// whatever the catalog says now; the catalog's is recorded at first use; a
// model with a built-in schema needs none.
func TestInputSchemaRecordedWins(t *testing.T) {
	t.Parallel()
	model := sim.DefaultModel
	for _, tc := range []struct {
		name         string
		recorded     string
		m            api.Model
		merr         error
		wantFrom     string
		wantRecorded string
	}{
		{name: "recorded wins, catalog down", recorded: `{"a":1}`, merr: api.ErrUnavailable, wantFrom: schemaRecorded, wantRecorded: `{"a":1}`},
		{name: "recorded wins over a changed catalog", recorded: `{"a":1}`, m: api.Model{InputSchema: []byte(`{"a":2}`)}, wantFrom: schemaRecorded, wantRecorded: `{"a":1}`},
		{name: "first use records", m: api.Model{InputSchema: []byte(`{"b":1}`)}, wantFrom: schemaCatalog, wantRecorded: `{"b":1}`},
		{name: "built-in needs none", merr: api.ErrModelNotFound, wantFrom: schemaBuiltIn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &memMeta{m: map[string]string{}}
			if tc.recorded != "" {
				st.m[InputSchemaMetaKey] = tc.recorded
			}
			raw, from, err := inputSchema(t.Context(), st, model, tc.m, tc.merr, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			assert.Equal(t, tc.wantFrom, from)
			assert.Equal(t, tc.wantRecorded, st.m[InputSchemaMetaKey])
			if tc.wantRecorded != "" {
				assert.JSONEq(t, tc.wantRecorded, string(raw))
			}
		})
	}
}

// TestInputSchemaUnknown: a model with no recorded schema and no catalog
// entry is refused by its cause: unknown to the catalog a ConfigError, a
// catalog that did not answer ErrUnavailable, a refused token as itself;
// each says to give the schema with --schema.
func TestInputSchemaUnknown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		merr   error
		config bool
		is     error
	}{
		{"unknown to the catalog", fmt.Errorf("x: %w", api.ErrModelNotFound), true, nil},
		{"catalog down", fmt.Errorf("x: %w", api.ErrUnavailable), false, api.ErrUnavailable},
		{"catalog absent", fmt.Errorf("%w: x", api.ErrNoCatalog), false, api.ErrUnavailable},
		{"bad token", fmt.Errorf("x: %w", api.ErrUnauthorized), false, api.ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := inputSchema(t.Context(), &memMeta{m: map[string]string{}}, "org/other", api.Model{}, tc.merr, slog.New(slog.DiscardHandler))
			require.Error(t, err)
			var ce *ConfigError
			assert.Equal(t, tc.config, errors.As(err, &ce), "%v", err)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.Contains(t, err.Error(), "--schema FILE")
		})
	}
}
