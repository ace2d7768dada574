package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/pikabatch/pikabatch/runner/api"
)

// metaInputSchema is the model's input schema as first used, recorded in
// the state file beside the binding (store/binding.go), so that resume,
// status and export need no catalog.
const metaInputSchema = "input_schema"

// metaStore is the part of the store the schema is recorded in.
type metaStore interface {
	Meta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
}

// Where an input schema came from.
const (
	schemaBuiltIn  = "built-in"
	schemaRecorded = "state file"
	schemaCatalog  = "catalog"
)

// inputSchema finds the model's input schema: the one recorded in the state
// file at first use, else the catalog's (recorded now). The catalog answer
// (m, merr) was read once by the caller. A model with a built-in schema
// (pika image-to-video) needs none: raw is nil then, unless one was
// recorded. A model with neither a recorded schema nor a catalog entry is
// an error: unknown to the catalog is a usage error (exit 64), a catalog
// that cannot be reached is ErrUnavailable (exit 69).
//
// Until manifest compiles any model's schema (h-schema's
// manifest.CompileSchema), raw flows from here to batch.inputSchema and is
// only recorded.
func inputSchema(ctx context.Context, st metaStore, model string, m api.Model, merr error, log *slog.Logger) (raw json.RawMessage, from string, err error) {
	rec, err := st.Meta(ctx, metaInputSchema)
	if err != nil {
		return nil, "", err
	}
	if rec != "" {
		if merr == nil && len(m.InputSchema) > 0 && !sameJSON(m.InputSchema, []byte(rec)) {
			// The batch keeps the schema its rows were checked and sent
			// with; a new one would change what a row means mid-batch.
			log.Warn("the catalog's input schema changed since this batch began; the recorded one is kept", "model", model)
		}
		return json.RawMessage(rec), schemaRecorded, nil
	}
	if merr == nil && len(m.InputSchema) > 0 {
		if !json.Valid(m.InputSchema) {
			return nil, "", fmt.Errorf("model %s: the catalog's input schema is not JSON: %w", model, api.ErrBadResponse)
		}
		if err := st.SetMeta(ctx, metaInputSchema, string(m.InputSchema)); err != nil {
			return nil, "", err
		}
		log.Info("input schema recorded in the state file", "model", model)
		return m.InputSchema, schemaCatalog, nil
	}
	if model == defaultModel {
		return nil, schemaBuiltIn, nil
	}
	switch {
	case merr == nil:
		return nil, "", &usageError{msg: fmt.Sprintf("model %s: the catalog has no input schema for it and the state file none recorded; give the schema with --schema FILE", model)}
	case errors.Is(merr, api.ErrModelNotFound):
		return nil, "", &usageError{msg: fmt.Sprintf("model %s: %v; check --model (pikabatch models --search), or give the schema with --schema FILE", model, merr)}
	}
	return nil, "", fmt.Errorf("model %s: no input schema recorded and the catalog did not answer (%w); give the schema with --schema FILE: %w", model, merr, api.ErrUnavailable)
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}
