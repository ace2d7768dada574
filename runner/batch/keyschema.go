package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/store"
)

// KeySchemaMetaKey records, in the state file, what of the schema the batch's
// rows were keyed with (manifest.Schema.KeyFields, as JSON): a row without
// an id is keyed by its values as the schema reads them, so a schema that
// reads them otherwise gives every such row a new key, a new job, paid
// again.
const KeySchemaMetaKey = "key_schema"

// checkKeySchema refuses (a ConfigError) a schema that would key the batch's
// rows otherwise than the one recorded at first use, built-in or not; it
// records s's when none is (unless readOnly: a dry run). jobs reports
// whether the state holds jobs: a state from before the record was kept
// adopts this run's, and the log says so.
func (b *batch) checkKeySchema(ctx context.Context, st metaStore, readOnly bool, jobs func() bool) error {
	if b.schema == nil {
		return nil
	}
	now := b.schema.KeyFields()
	rec, err := st.Meta(ctx, KeySchemaMetaKey)
	if err != nil {
		return err
	}
	if rec == "" {
		if readOnly {
			return nil
		}
		raw, err := json.Marshal(now)
		if err != nil {
			return err
		}
		if err := st.SetMeta(ctx, KeySchemaMetaKey, string(raw)); err != nil {
			return err
		}
		if jobs() {
			b.log.Warn("state file had no record of the schema its rows were keyed with; recording this run's: a later schema that keys rows otherwise is refused",
				"state", b.state.path, "schema", b.schemaSource())
		}
		return nil
	}
	var was map[string]string
	if err := json.Unmarshal([]byte(rec), &was); err != nil {
		return fmt.Errorf("state file %s: its %s record is not JSON: %w", b.state.path, KeySchemaMetaKey, err)
	}
	if diff := keyFieldsDiff(was, now); len(diff) > 0 {
		return configf("%s reads rows otherwise than the schema this batch's rows were keyed with (%s): every row without an id would get a new key and be submitted, and paid for, again; nothing was sent. Run with the schema the batch began with%s, or use another --out for a new batch",
			b.schemaSource(), strings.Join(diff, "; "), b.schemaHint())
	}
	return nil
}

// schemaSource names where this run's schema came from, for messages.
func (b *batch) schemaSource() string {
	switch {
	case b.c.Schema != "":
		return "--schema " + b.c.Schema
	case b.inputSchema == nil:
		return "the built-in schema of " + b.c.Model
	}
	return "the input schema of " + b.c.Model
}

// schemaHint says how to run with the schema the batch began with.
func (b *batch) schemaHint() string {
	if _, ok := manifest.BuiltinSchema(b.c.Model); ok && b.c.Schema != "" {
		return " (leave out --schema if it began with the built-in one)"
	}
	return ""
}

// keyFieldsDiff lists the fields two KeyFields read otherwise:
// "seed: integer, now string".
func keyFieldsDiff(was, now map[string]string) []string {
	names := make([]string, 0, len(was)+len(now))
	for n := range was {
		names = append(names, n)
	}
	for n := range now {
		if _, ok := was[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var diff []string
	for _, n := range names {
		w, ok1 := was[n]
		v, ok2 := now[n]
		switch {
		case !ok1:
			diff = append(diff, fmt.Sprintf("%s: not a field, now %s", n, v))
		case !ok2:
			diff = append(diff, fmt.Sprintf("%s: %s, now not a field", n, w))
		case w != v:
			diff = append(diff, fmt.Sprintf("%s: %s, now %s", n, w, v))
		}
	}
	return diff
}

// previewKeySchema refuses, for a dry run, the schema a run would refuse
// (checkKeySchema), reading the state file only.
func (b *batch) previewKeySchema(ctx context.Context) error {
	st, err := store.Open(b.state.path, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	return b.checkKeySchema(ctx, st, true, func() bool { return false })
}
