package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// batch is a run as prepare leaves it, before anything is opened.
type batch struct {
	c             Config
	spec          shard.Spec
	format        manifest.Format
	schema        *manifest.Schema
	kept          []string         // the kept columns seen, for results.csv
	counted       manifest.Summary // the validation pass's, to size the run's reader once
	resultsFormat results.Format
	syncTo        *bucket.Location // --sync-to; nil without it
	log           *slog.Logger
	shardRows     int // rows of the manifest the shard owns (all without a shard)
	state         stateFile
	// inputSchema is the model's JSON Schema, from the state file or the
	// catalog (schema.go); nil for the built-in one.
	inputSchema json.RawMessage
	// files says how the manifest's local files are sent (inputs.go).
	files *manifest.LocalFiles
}

// prepare checks the options, validates every row of the manifest, finds
// the state file and, for a run, reads the token: an invalid manifest
// costs nothing, and every mistake in the options is found before a
// missing token.
func prepare(ctx context.Context, c Config, needToken bool) (*batch, error) {
	b := &batch{c: c, log: c.Logger}
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := b.checkOptions(); err != nil {
		return nil, err
	}
	if err := b.validateManifest(ctx); err != nil {
		return nil, err
	}
	if err := b.findState(); err != nil {
		return nil, err
	}
	if needToken && b.c.Token == "" {
		tok, err := b.c.token()
		if err != nil {
			return nil, err
		}
		b.c.Token = tok
	}
	return b, nil
}

// token is the API token: Token, else TokenSource's.
func (c Config) token() (api.Token, error) {
	switch {
	case c.Token != "":
		return c.Token, nil
	case c.TokenSource != nil:
		return c.TokenSource()
	}
	return "", fmt.Errorf("no API token given: %w", api.ErrNoToken)
}

// manifestConfig says how the batch's manifest is read.
func (b *batch) manifestConfig() manifest.Config {
	return manifest.Config{Format: b.format, Schema: b.schema, Map: b.c.ColumnMap, Keep: b.c.KeepColumns,
		Reserved: results.OwnColumns(), Expect: b.counted, Files: b.files}
}

// manifestRows opens the manifest for streaming.
func (b *batch) manifestRows() (*manifest.Reader, error) {
	rows, err := manifest.OpenConfig(b.c.Manifest, b.manifestConfig())
	if err != nil {
		return nil, ManifestError(err)
	}
	return rows, nil
}

// validateManifest checks every row before anything is sent, and counts
// the shard's.
func (b *batch) validateManifest(ctx context.Context) error {
	if b.schema == nil {
		return nil // checked once the state file or the catalog gives the schema (adoptSchema)
	}
	msum, err := manifest.ValidateConfig(ctx, b.c.Manifest, b.manifestConfig(), func(row manifest.Row) error {
		if b.spec.Owns(row.Key) {
			b.shardRows++
		}
		return nil
	})
	if err != nil {
		return ManifestError(err)
	}
	b.log.Info("manifest valid", "file", b.c.Manifest, "rows", msum.Rows)
	b.kept = msum.Kept
	b.counted = msum
	if b.spec.IsSet() {
		b.log.Info("shard", "shard", b.spec.String(), "rows", b.shardRows)
	}
	return nil
}

// findState names the state file: State, or the shard's in Out, which
// must hold no other split's.
func (b *batch) findState() error {
	c := b.c
	b.state = stateFile{path: c.State, out: c.Out, custom: c.State != "", spec: b.spec, fresh: c.Fresh}
	if c.State != "" {
		return nil
	}
	b.state.path = filepath.Join(c.Out, b.spec.StateName())
	// Another split's state files know what was submitted under it;
	// this split would never read them and submit those rows again.
	// (Checked again, and recorded, under the folder's lock: claimSplit.)
	other, err := shard.OtherSplits(c.Out, b.spec)
	if err != nil {
		return err
	}
	if len(other) > 0 {
		return b.otherSplit(strings.Join(other, ", "))
	}
	f, err := store.ReadFolder(c.Out)
	if err != nil {
		return err
	}
	if f.Shards != nil && *f.Shards != b.spec.N {
		return b.otherSplit(fmt.Sprintf("%s records %s", store.FolderRecordName, splitWords(*f.Shards)))
	}
	return nil
}
