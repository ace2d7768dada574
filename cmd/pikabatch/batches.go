package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

// batchFlags are how status, cancel and export name the batches they ask about.
type batchFlags struct {
	out    string
	states []string
}

func (b *batchFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&b.out, "out", "", "output `folder` of the batch: its state file, or every shard's in it")
	fs.StringArrayVar(&b.states, "state", nil, "state `file` (repeat for several shards); default the ones in --out")
}

// stateFiles resolves --out and --state into state file paths.
func (b *batchFlags) stateFiles() ([]string, error) {
	if len(b.states) > 0 {
		return b.states, nil
	}
	if b.out == "" {
		return nil, usagef("--out or --state is required")
	}
	files, err := live.StateFiles(b.out)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		if idx, _ := filepath.Glob(filepath.Join(b.out, "results*.jsonl")); len(idx) > 0 {
			shardHint := ""
			if strings.Contains(filepath.Base(idx[0]), "-of-") {
				shardHint = " --shard K/N"
			}
			return nil, fmt.Errorf("%w: no state file in %s, but runs left %s there; `pikabatch recover --out %s%s` rebuilds the state from it",
				store.ErrMissing, b.out, filepath.Base(idx[0]), b.out, shardHint)
		}
		return nil, fmt.Errorf("%w in %s: no run has started there", live.ErrNoState, b.out)
	}
	return files, nil
}

// open reaches every batch --out and --state name, live or not; close them
// with live.CloseAll.
func (b *batchFlags) open(ctx context.Context, opts live.OpenOptions) ([]live.Source, error) {
	files, err := b.stateFiles()
	if err != nil {
		return nil, err
	}
	return openBatches(ctx, files, opts)
}

// openBatches reaches every named batch, live or not (live.OpenAll),
// with the way back from a damaged state file in its error.
func openBatches(ctx context.Context, files []string, opts live.OpenOptions) ([]live.Source, error) {
	srcs, err := live.OpenAll(ctx, files, opts)
	if err != nil {
		return nil, damagedHint(err)
	}
	return srcs, nil
}

// damagedHint adds the way back to a damaged state file's error.
func damagedHint(err error) error {
	if errors.Is(err, store.ErrDamaged) {
		return fmt.Errorf("%w\nnothing was changed. `pikabatch recover --out DIR` rebuilds the state from the folder's results.jsonl (keeping the damaged file aside)", err)
	}
	return err
}
