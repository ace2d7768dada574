package main

import (
	"fmt"
	"strings"

	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/store"
)

// claimSplit records the run's split of the manifest in the output
// folder's record, or refuses one other than the recorded split (exit
// 64), atomically: the check and the record are made under the folder's
// lock. Checking the state files alone let --shard 0/2 and --shard 0/3,
// started at the same moment, each find none of the other's and both
// submit rows the other did. A run with its own --state shares no folder.
func (b *batch) claimSplit() error {
	if b.state.custom {
		return nil
	}
	n := b.spec.N
	return store.UpdateFolder(b.o.out, func(f *store.Folder) error {
		if f.Shards != nil {
			if *f.Shards != n {
				return b.otherSplit(fmt.Sprintf("%s records %s", store.FolderRecordName, splitWords(*f.Shards)))
			}
			return nil
		}
		// A folder from before the record: its state files tell.
		other, err := shard.OtherSplits(b.o.out, b.spec)
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
	return usagef("%s holds state of another split of the manifest (%s): running with %s would submit (and pay for) rows already submitted there (%v); run with the split it names, or into another --out",
		b.o.out, what, splitWords(b.spec.N), shard.ErrOtherSplit)
}

// splitWords names a split by its N: "no --shard", "--shard K/3".
func splitWords(n int) string {
	if n == 0 {
		return "no --shard"
	}
	return fmt.Sprintf("--shard K/%d", n)
}
