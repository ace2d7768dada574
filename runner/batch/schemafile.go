package batch

import (
	"context"
	"encoding/json"
	"os"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/store"
)

// LoadSchema returns the input schema rows of model are checked against:
// the JSON Schema in file (--schema) if given, which works offline for any
// model; else the built-in one of the model. For a model without either it
// returns nil: `run` reads the schema from the state file or the catalog
// (adoptSchema) and checks the manifest then, still before anything is
// sent; `validate` and a dry run read it as well (ReadCatalogSchema,
// previewSchema).
func LoadSchema(model, file string) (*manifest.Schema, error) {
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, configf("--schema: %v", err)
		}
		s, err := manifest.CompileSchema(file, raw)
		if err != nil {
			return nil, configf("--schema: %v", err)
		}
		return s, nil
	}
	if model == "" {
		model = manifest.PikaModel
	}
	if s, ok := manifest.BuiltinSchema(model); ok {
		return s, nil
	}
	return nil, nil
}

// exportFields returns the CSV export's input columns for schema: nil
// (Pika's, as always) for the built-in Pika schema, else its fields.
func exportFields(s *manifest.Schema) []string {
	if s == nil || s.IsPika() {
		return nil
	}
	return s.Fields()
}

// adoptSchema checks the manifest again, before anything is sent, with the
// model's schema from the state file or the catalog (b.inputSchema): the
// rows were first checked before either could be read. A model with a
// built-in schema keeps it: a catalog schema typing a field otherwise
// ("5" a string, not an integer) would change rows' hashes, and a resume
// would pay for every row again.
func (b *batch) adoptSchema(ctx context.Context) error {
	if b.schema != nil { // built in
		return nil
	}
	if len(b.inputSchema) == 0 {
		return configf("no input schema is known for model %s: give it with --schema FILE", b.c.Model)
	}
	s, err := manifest.CompileSchema(b.c.Model, b.inputSchema)
	if err != nil {
		return configf("%v; give a usable schema with --schema FILE", err)
	}
	b.schema = s
	b.shardRows = 0
	return b.validateManifest(ctx)
}

// recordSchemaFile records the --schema file's schema in the state file,
// as the catalog's would be at first use, so that a resume without the
// flag checks rows with the same schema. A schema recorded already wins
// over another file, as over a changed catalog: the batch's rows were
// keyed and hashed with it, and a file typing a field otherwise ("42" a
// string) would make every row without an id a new job, paid again. (A
// model with a built-in schema keeps the file's: its recorded schema may
// be a catalog's its rows were never checked with; see adoptSchema.)
func (b *batch) recordSchemaFile(ctx context.Context, st metaStore) error {
	rec, err := st.Meta(ctx, InputSchemaMetaKey)
	if err != nil {
		return err
	}
	if rec == "" {
		return st.SetMeta(ctx, InputSchemaMetaKey, string(b.schema.Raw()))
	}
	if _, builtIn := manifest.BuiltinSchema(b.c.Model); builtIn || sameJSON([]byte(rec), b.schema.Raw()) {
		return nil
	}
	b.log.Warn("--schema differs from the input schema recorded in the state file; the recorded one is kept, as the batch's rows were keyed with it",
		"model", b.c.Model, "schema", b.c.Schema)
	b.inputSchema, b.schema = []byte(rec), nil
	return b.adoptSchema(ctx)
}

// previewSchema finds, for a dry run, the schema of a model with no
// built-in one, as a run would: the one the state file recorded, else the
// one the folder's other shards use, else the catalog's (which needs the
// token); the rows are checked with it. Nothing is recorded: a dry run
// writes nothing.
func (b *batch) previewSchema(ctx context.Context, readState bool) error {
	if readState {
		st, err := store.Open(b.state.path, store.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		rec, err := st.Meta(ctx, InputSchemaMetaKey)
		_ = st.Close() // read-only: nothing to flush
		if err != nil {
			return err
		}
		if rec != "" {
			b.inputSchema = json.RawMessage(rec)
			return b.adoptSchema(ctx)
		}
	}
	if !b.state.custom {
		// A new shard takes the schema of the folder's other shards.
		f, err := store.ReadFolder(b.c.Out)
		if err != nil {
			return err
		}
		if len(f.InputSchema) > 0 {
			b.inputSchema = f.InputSchema
			return b.adoptSchema(ctx)
		}
	}
	s, err := ReadCatalogSchema(ctx, b.c.catalogClient, b.c.Model, "the state file none recorded")
	if err != nil {
		return err
	}
	b.schema = s
	b.shardRows = 0
	return b.validateManifest(ctx)
}
