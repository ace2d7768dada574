package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// recoverOptions are recover's flags.
type recoverOptions struct {
	out, state, index string
	shard             string // --shard K/N
	asJSON            bool
}

func newRecoverCmd(stdout io.Writer) *cobra.Command {
	var o recoverOptions
	c := &cobra.Command{
		Use:   "recover --out DIR",
		Short: "Rebuild a missing or damaged state from results.jsonl",
		Long: `Rebuild a missing or damaged state file from the batch's results index:
request IDs, states, files, sizes and hashes. A damaged state file is kept
as STATE.damaged-TIME. Nothing is sent to the API.`,
		Example: `  pikabatch recover --out out
  pikabatch recover --out out --shard 2/4`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runRecover(c.Context(), o, stdout)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.out, "out", "", "output `folder` of the batch")
	fs.StringVar(&o.state, "state", "", "state `file` to rebuild (default OUT/.pikabatch.db, or the shard's)")
	fs.StringVar(&o.index, "index", "", "results `index` to rebuild from (default OUT/results.jsonl, or the shard's)")
	fs.StringVar(&o.shard, "shard", "", "the batch's `K/N` shard, as given to run")
	fs.BoolVar(&o.asJSON, "json", false, "print the outcome as JSON")
	markRequired(c, "out")
	return c
}

// runRecover rebuilds the state file o names from its results index.
func runRecover(ctx context.Context, o recoverOptions, stdout io.Writer) error {
	statePath, indexPath, err := recoverPaths(o)
	if err != nil {
		return err
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
		if aside, err = batch.MoveAside(statePath, time.Now()); err != nil {
			return fmt.Errorf("keep the damaged %s aside: %w", statePath, err)
		}
	}
	rep, err := results.Recover(ctx, o.out, indexPath, statePath, owner)
	if err != nil {
		return err
	}
	if o.asJSON {
		return writeJSON(stdout, recoverJSONOf(rep, aside))
	}
	if aside != "" {
		fmt.Fprintf(stdout, "damaged state file kept as %s\n", aside)
	}
	fmt.Fprintf(stdout, "rebuilt %s from %s (written %s): %s\n", statePath, indexPath,
		rep.IndexTime.Format(time.RFC3339), plural(rep.Jobs, "job"))
	fmt.Fprintf(stdout, "  %d done (files present), %d in flight (polled by request ID), %d done with a file missing (fetched again by request ID, no new render)\n",
		rep.Done, rep.InFlight, rep.Refetch)
	fmt.Fprintf(stdout, "  %d uncertain, %d pending, %d failed, cancelled, timed out or expired\n", rep.Uncertain, rep.Pending, rep.Finished)
	if len(rep.SkippedLines) > 0 {
		fmt.Fprintf(stdout, "  skipped lines %v of %s: longer than %d bytes, no entry pikabatch writes; their rows, if any, are submitted again\n",
			rep.SkippedLines, indexPath, results.MaxLineBytes)
	}
	if rep.Journaled > 0 {
		fmt.Fprintf(stdout, "  %d request IDs from the recovery journal\n", rep.Journaled)
	}
	fmt.Fprintln(stdout, "jobs submitted after the index was written are not in it: check the run's log for their request IDs before running again")
	return nil
}

// recoverPaths are the state file to rebuild and the index to rebuild it
// from, which must exist.
func recoverPaths(o recoverOptions) (statePath, indexPath string, err error) {
	if o.out == "" {
		return "", "", usagef("--out is required: the results index and the files are there")
	}
	spec, err := shard.Parse(o.shard, os.Getenv)
	if err != nil {
		return "", "", usagef("--shard: %v", err)
	}
	statePath, indexPath = o.state, o.index
	if statePath == "" {
		statePath = filepath.Join(o.out, spec.StateName())
	}
	if indexPath == "" {
		indexPath = filepath.Join(o.out, spec.IndexName("jsonl"))
	}
	if _, err := os.Stat(indexPath); err != nil {
		return "", "", fmt.Errorf("%w: no results index to rebuild %s from: %w", store.ErrMissing, statePath, err)
	}
	return statePath, indexPath, nil
}
