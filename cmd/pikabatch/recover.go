package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

// cmdRecover rebuilds a batch's missing or damaged state file from the
// results index its runs left in the output folder.
func cmdRecover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("pikabatch recover", flag.ContinueOnError)
	flags.SetOutput(stderr)
	out := flags.String("out", "", "output `folder` of the batch")
	state := flags.String("state", "", "state `file` to rebuild (default OUT/.pikabatch.db, or the shard's)")
	index := flags.String("index", "", "results index to rebuild from (default OUT/results.jsonl, or the shard's)")
	shardFlag := flags.String("shard", "", "the batch's `K/N` shard, as given to run")
	asJSON := flags.Bool("json", false, "print the outcome as JSON")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "Usage: pikabatch recover --out DIR [--state FILE] [--shard K/N] [--json]\n\nRebuilds a missing or damaged state file from the batch's results index:\nrequest IDs, states, files, sizes and hashes. A damaged state file is kept\nas STATE.damaged-TIME. Nothing is sent to the API.\n\nFlags:")
		flags.PrintDefaults()
	}
	if err := parseFlags(flags, args); err != nil {
		return helpOK(err)
	}
	if *out == "" {
		return usagef("--out is required: the results index and the files are there")
	}
	spec, err := shard.Parse(*shardFlag, os.Getenv)
	if err != nil {
		return usagef("--shard: %v", err)
	}
	statePath := *state
	if statePath == "" {
		statePath = filepath.Join(*out, spec.StateName())
	}
	indexPath := *index
	if indexPath == "" {
		indexPath = filepath.Join(*out, spec.IndexName("jsonl"))
	}
	if _, err := os.Stat(indexPath); err != nil {
		return fmt.Errorf("%w: no results index to rebuild %s from: %w", store.ErrMissing, statePath, err)
	}

	owner := store.CurrentOwner("pikabatch recover")
	var aside string
	if _, err := os.Lstat(statePath); !errors.Is(err, fs.ErrNotExist) {
		st, err := store.Open(statePath, store.Options{Owner: owner})
		switch {
		case err == nil:
			_ = st.Close()
			return usagef("%s is readable: there is nothing to recover (run the batch to resume it)", statePath)
		case !errors.Is(err, store.ErrDamaged):
			return err
		}
		if aside, err = moveAside(statePath, time.Now()); err != nil {
			return fmt.Errorf("keep the damaged %s aside: %w", statePath, err)
		}
	}
	rep, err := live.Recover(ctx, *out, indexPath, statePath, owner)
	if err != nil {
		return err
	}
	if *asJSON {
		writeJSON(stdout, struct {
			live.RecoverReport
			KeptAs string `json:"damaged_kept_as,omitempty"`
		}{rep, aside})
		return nil
	}
	if aside != "" {
		fmt.Fprintf(stdout, "damaged state file kept as %s\n", aside)
	}
	fmt.Fprintf(stdout, "rebuilt %s from %s (written %s): %d jobs\n", statePath, indexPath,
		rep.IndexTime.Format(time.RFC3339), rep.Jobs)
	fmt.Fprintf(stdout, "  %d done (files present), %d in flight (polled by request ID), %d done with a file missing (fetched again by request ID, no new render)\n",
		rep.Done, rep.InFlight, rep.Refetch)
	fmt.Fprintf(stdout, "  %d uncertain, %d pending, %d failed, cancelled, timed out or expired\n", rep.Uncertain, rep.Pending, rep.Finished)
	if rep.Journaled > 0 {
		fmt.Fprintf(stdout, "  %d request IDs from the recovery journal\n", rep.Journaled)
	}
	fmt.Fprintln(stdout, "jobs submitted after the index was written are not in it: check the run's log for their request IDs before running again")
	return nil
}
