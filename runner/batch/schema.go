package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/api"
)

// InputSchemaMetaKey is the state file record of the model's input schema as first used,
// kept beside the binding (store.Binding), so that resume,
// status and export need no catalog.
const InputSchemaMetaKey = "input_schema"

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
// an error: unknown to the catalog is a ConfigError, a catalog
// that cannot be reached is ErrUnavailable.
func inputSchema(ctx context.Context, st metaStore, model string, m api.Model, merr error, log *slog.Logger) (raw json.RawMessage, from string, err error) {
	rec, err := st.Meta(ctx, InputSchemaMetaKey)
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
		raw, err := catalogSchema(model, m, merr, "the state file none recorded")
		if err != nil {
			return nil, "", err
		}
		if err := st.SetMeta(ctx, InputSchemaMetaKey, string(raw)); err != nil {
			return nil, "", err
		}
		log.Info("input schema recorded in the state file", "model", model)
		return raw, schemaCatalog, nil
	}
	if model == DefaultModel {
		return nil, schemaBuiltIn, nil
	}
	_, err = catalogSchema(model, m, merr, "the state file none recorded")
	return nil, "", err
}

// catalogSchema is the input schema in the catalog's answer (m, merr) for
// model. A model unknown to the catalog, or known without a schema, is a
// ConfigError; a catalog that cannot be reached is
// ErrUnavailable. Each says to give the schema with --schema.
// besides names what else was looked in ("the state file none recorded").
func catalogSchema(model string, m api.Model, merr error, besides string) (json.RawMessage, error) {
	switch {
	case merr == nil && len(m.InputSchema) > 0:
		if !json.Valid(m.InputSchema) {
			return nil, fmt.Errorf("model %s: the catalog's input schema is not JSON: %w", model, api.ErrBadResponse)
		}
		return m.InputSchema, nil
	case merr == nil:
		return nil, &ConfigError{Msg: fmt.Sprintf("model %s: the catalog has no input schema for it and %s; give the schema with --schema FILE", model, besides)}
	case errors.Is(merr, api.ErrModelNotFound):
		return nil, &ConfigError{Msg: fmt.Sprintf("model %s: %v; check --model (pikabatch models --search), or give the schema with --schema FILE", model, merr)}
	}
	return nil, fmt.Errorf("model %s: no input schema (%s) and the catalog did not answer (%w); give the schema with --schema FILE: %w", model, besides, merr, api.ErrUnavailable)
}

// ReadCatalogSchema reads from the catalog the input schema of a model
// with no built-in one, for commands without a state file (validate) or
// before one records it (a dry run of a new batch). open builds the
// catalog's client, which needs the token; besides names what else was
// looked in.
func ReadCatalogSchema(ctx context.Context, open func() (*api.Client, error), model, besides string) (*manifest.Schema, error) {
	c, err := open()
	if err != nil {
		return nil, fmt.Errorf("model %s has no built-in input schema; reading the catalog's: %w; or give the schema with --schema FILE", model, err)
	}
	defer c.CloseIdleConnections()
	m, merr := c.Model(ctx, model)
	raw, err := catalogSchema(model, m, merr, besides)
	if err != nil {
		return nil, err
	}
	s, err := manifest.CompileSchema(model, raw)
	if err != nil {
		return nil, configf("%v; give a usable schema with --schema FILE", err)
	}
	return s, nil
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

// catalogClient builds a client for the catalog reads of a dry run, which
// has no run's client: it needs the token.
func (c Config) catalogClient() (*api.Client, error) {
	tok, err := c.token()
	if err != nil {
		return nil, err
	}
	cl, err := api.New(api.Config{BaseURL: c.APIBase, BalanceURL: c.BalanceBase, Token: tok,
		HTTPClient: &http.Client{Transport: Transport(2)}, Limiter: rate.NewLimiter(catalogRPS, 1), MaxRetries: 2})
	if err != nil {
		return nil, configf("%v", err)
	}
	return cl, nil
}
