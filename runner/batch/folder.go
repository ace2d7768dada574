package batch

import (
	"context"
	"fmt"
	"strings"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/store"
)

// claimSplit records the run's split of the manifest in the output
// folder's record, or refuses one other than the recorded split (a
// ConfigError), atomically: the check and the record are made under the folder's
// lock. Checking the state files alone let --shard 0/2 and --shard 0/3,
// started at the same moment, each find none of the other's and both
// submit rows the other did. A run with its own --state shares no folder.
func (b *batch) claimSplit() error {
	if b.state.custom {
		return nil
	}
	n := b.spec.N
	return store.UpdateFolder(b.c.Out, func(f *store.Folder) error {
		if f.Shards != nil {
			if *f.Shards != n {
				return b.otherSplit(fmt.Sprintf("%s records %s", store.FolderRecordName, splitWords(*f.Shards)))
			}
			return nil
		}
		// A folder from before the record: its state files tell.
		other, err := shard.OtherSplits(b.c.Out, b.spec)
		if err != nil {
			return err
		}
		if len(other) > 0 {
			return b.otherSplit(strings.Join(other, ", "))
		}
		f.Shards = &n
		return nil
	})
}

// otherSplit is the refusal of a run in a folder of another split; what
// names the other split's evidence.
func (b *batch) otherSplit(what string) error {
	return configf("%s holds state of another split of the manifest (%s): running with %s would submit (and pay for) rows already submitted there (%v); run with the split it names, or into another --out",
		b.c.Out, what, splitWords(b.spec.N), shard.ErrOtherSplit)
}

// splitWords names a split by its N: "no --shard", "--shard K/3".
func splitWords(n int) string {
	if n == 0 {
		return "no --shard"
	}
	return fmt.Sprintf("--shard K/%d", n)
}

// inFolder calls fn with the output folder's record under its lock
// (store.UpdateFolder); a run with its own --state shares no folder, and
// fn gets a record of its own.
func (b *batch) inFolder(fn func(f *store.Folder) error) error {
	if b.state.custom {
		return fn(&store.Folder{})
	}
	return store.UpdateFolder(b.c.Out, fn)
}

// settleSchema settles the schema rows are checked and keyed with, before
// anything is sent: the one the state file recorded, else the one the
// folder's other shards use (f), else the catalog's (model, merr), or
// --schema's. Shards of one folder key rows alike: a catalog that changed
// between two shards' starts gave each its own schema, and rows moved
// between shards, some paid twice and some never rendered.
func (b *batch) settleSchema(ctx context.Context, st *store.Store, f *store.Folder, model api.Model, merr error) error {
	jobs := func() bool { return hasJobs(ctx, st) }
	var err error
	if b.c.Schema != "" {
		// Checked before the file's schema is recorded as the batch's.
		if err = b.checkKeySchema(ctx, st, false, jobs); err == nil {
			err = b.recordSchemaFile(ctx, st)
		}
	} else {
		if err = shareInputSchema(ctx, st, f); err != nil {
			return err
		}
		if b.inputSchema, _, err = inputSchema(ctx, st, b.c.Model, model, merr, b.log); err == nil {
			if err = b.adoptSchema(ctx); err == nil {
				err = b.checkKeySchema(ctx, st, false, jobs)
			}
		}
	}
	if err != nil {
		return err
	}
	return b.shareKeyFields(f)
}

// shareInputSchema gives a state file with no input schema recorded the
// one the folder's other shards use, if any.
func shareInputSchema(ctx context.Context, st metaStore, f *store.Folder) error {
	if len(f.InputSchema) == 0 {
		return nil
	}
	rec, err := st.Meta(ctx, InputSchemaMetaKey)
	if err != nil || rec != "" {
		return err
	}
	return st.SetMeta(ctx, InputSchemaMetaKey, string(f.InputSchema))
}

// shareKeyFields records in the folder what of the schema this run keys
// rows with, at the first shard, or refuses (a ConfigError) a schema keying
// them otherwise than the other shards.
func (b *batch) shareKeyFields(f *store.Folder) error {
	if b.schema == nil {
		return nil
	}
	now := b.schema.KeyFields()
	if f.KeyFields == nil {
		f.KeyFields = now
		if _, builtIn := manifest.BuiltinSchema(b.c.Model); !builtIn {
			f.InputSchema = b.schema.Raw()
		}
		return nil
	}
	if diff := keyFieldsDiff(f.KeyFields, now); len(diff) > 0 {
		return configf("%s reads rows otherwise than the schema the other shards of %s keyed theirs with (%s): rows would move between shards, some paid twice and some never rendered; nothing was sent. Run every shard of the folder with one schema%s",
			b.schemaSource(), b.c.Out, strings.Join(diff, "; "), b.schemaHint())
	}
	return nil
}
