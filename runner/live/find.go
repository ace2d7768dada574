package live

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pikabatch/pikabatch/store"
)

// FindStates is StateFiles for a batch asked about by its folder: a folder
// with none is ErrNoState, or store.ErrMissing when runs left a results
// index there, whose error says how to rebuild the state from it.
func FindStates(dir string) ([]string, error) {
	files, err := StateFiles(dir)
	if err != nil || len(files) > 0 {
		return files, err
	}
	if idx, _ := filepath.Glob(filepath.Join(dir, "results*.jsonl")); len(idx) > 0 {
		shardHint := ""
		if strings.Contains(filepath.Base(idx[0]), "-of-") {
			shardHint = " --shard K/N"
		}
		return nil, fmt.Errorf("%w: no state file in %s, but runs left %s there; `pikabatch recover --out %s%s` rebuilds the state from it",
			store.ErrMissing, dir, filepath.Base(idx[0]), dir, shardHint)
	}
	return nil, fmt.Errorf("%w in %s: no run has started there", ErrNoState, dir)
}
