package batch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// RecoverConfig names a batch whose state file is missing or damaged, to
// be rebuilt from its results index.
type RecoverConfig struct {
	Out   string // the batch's output folder; required
	State string // the state file; default the shard's in Out
	Index string // the results index; default the shard's in Out
	Shard string // the batch's K/N shard, as given to the run
	// Getenv reads JOB_COMPLETION_INDEX for Shard auto/N; default os.Getenv.
	Getenv func(string) string
}

// RecoverResult is what a recover rebuilt.
type RecoverResult struct {
	StatePath, IndexPath string
	// KeptAs is where the damaged state file was moved; empty when the
	// state file was missing.
	KeptAs string
	results.RecoverReport
}

// Recover rebuilds the state file of a batch from its results index,
// sending nothing: request IDs, states, files, sizes and hashes. Only a
// missing or damaged state is rebuilt: a readable one is refused (a
// ConfigError), as it knows more than the index (jobs submitted after the
// index was written). A damaged one is kept aside (moveAside), never
// deleted.
func Recover(ctx context.Context, c RecoverConfig) (RecoverResult, error) {
	res, err := c.paths()
	if err != nil {
		return res, err
	}
	owner := store.CurrentOwner("pikabatch recover")
	if _, err := os.Lstat(res.StatePath); !errors.Is(err, fs.ErrNotExist) {
		st, err := store.Open(res.StatePath, store.Options{Owner: owner})
		switch {
		case err == nil:
			_ = st.Close()
			return res, configf("%s is readable: there is nothing to recover (run the batch to resume it)", res.StatePath)
		case !errors.Is(err, store.ErrDamaged):
			return res, err
		}
		if res.KeptAs, err = moveAside(res.StatePath, time.Now()); err != nil {
			return res, fmt.Errorf("keep the damaged %s aside: %w", res.StatePath, err)
		}
	}
	res.RecoverReport, err = results.Recover(ctx, c.Out, res.IndexPath, res.StatePath, owner)
	return res, err
}

// paths are the state file to rebuild and the index to rebuild it from,
// which must exist (store.ErrMissing).
func (c RecoverConfig) paths() (RecoverResult, error) {
	if c.Out == "" {
		return RecoverResult{}, configf("--out is required: the results index and the files are there")
	}
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	spec, err := shard.Parse(c.Shard, getenv)
	if err != nil {
		return RecoverResult{}, configf("--shard: %v", err)
	}
	res := RecoverResult{StatePath: c.State, IndexPath: c.Index}
	if res.StatePath == "" {
		res.StatePath = filepath.Join(c.Out, spec.StateName())
	}
	if res.IndexPath == "" {
		res.IndexPath = filepath.Join(c.Out, spec.IndexName("jsonl"))
	}
	if _, err := os.Stat(res.IndexPath); err != nil {
		return RecoverResult{}, fmt.Errorf("%w: no results index to rebuild %s from: %w", store.ErrMissing, res.StatePath, err)
	}
	return res, nil
}
