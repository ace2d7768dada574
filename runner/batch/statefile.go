package batch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

// stateFile is the state file of a run and what `run` needs to judge it:
// the output folder, the shard, whether --fresh was given.
type stateFile struct {
	path, out string
	custom    bool // --state was given
	spec      shard.Spec
	fresh     bool
}

// openForRun opens the state file for a run. A missing state beside this
// batch's renders, or a damaged one, is refused (store.ErrMissing, store.ErrDamaged) with the ways
// back, unless --fresh asked to start over: then a damaged file is moved
// aside, never deleted.
func (sf stateFile) openForRun(owner store.Owner, now time.Time, log *slog.Logger) (*store.Store, error) {
	opts := store.Options{Owner: owner}
	if sf.fresh {
		// The journal beside a state started over is that state's: its
		// request IDs are jobs already paid for, so the new state takes
		// its batch identity and applies it.
		batch, err := store.JournalBatch(sf.path)
		if err != nil {
			return nil, err
		}
		opts.BatchID = batch
	}
	if _, err := os.Lstat(sf.path); errors.Is(err, fs.ErrNotExist) {
		if err := sf.checkMissing(log); err != nil {
			return nil, err
		}
		return store.Open(sf.path, opts)
	}
	st, err := store.Open(sf.path, opts)
	switch {
	case errors.Is(err, store.ErrDamaged) && sf.fresh:
		aside, merr := moveAside(sf.path, now)
		if merr != nil {
			return nil, fmt.Errorf("%w; moving it aside for --fresh: %w", err, merr)
		}
		log.Warn("damaged state file kept aside; starting over (--fresh): every row is submitted again",
			"state", sf.path, "kept_as", aside, "err", err)
		return store.Open(sf.path, opts)
	case errors.Is(err, store.ErrDamaged):
		return nil, fmt.Errorf("%w\nnothing was submitted. %s", err, sf.waysBack(true))
	case err != nil:
		return nil, err
	case sf.fresh:
		_ = st.Close()
		return nil, configf("--fresh starts over only a missing or damaged state file, and %s is readable: run without --fresh to resume it, or use another --out for a new batch", sf.path)
	}
	return st, nil
}

// checkForDryRun judges the state file as openForRun would, without
// changing anything: a dry run previews a run, and must not promise one
// that would be refused. It returns whether the dry run should read the
// state file (false: plan as a new batch).
func (sf stateFile) checkForDryRun(log *slog.Logger) (bool, error) {
	if _, err := os.Lstat(sf.path); errors.Is(err, fs.ErrNotExist) {
		return false, sf.checkMissing(log)
	}
	st, err := store.Open(sf.path, store.Options{ReadOnly: true})
	switch {
	case errors.Is(err, store.ErrDamaged) && sf.fresh:
		log.Warn("damaged state file: a run with --fresh would keep it aside and start over", "state", sf.path, "err", err)
		return false, nil
	case errors.Is(err, store.ErrDamaged):
		return false, fmt.Errorf("%w\nnothing was submitted. %s", err, sf.waysBack(true))
	case err != nil:
		return false, err
	}
	_ = st.Close()
	if sf.fresh {
		return false, configf("--fresh starts over only a missing or damaged state file, and %s is readable: run without --fresh to resume it, or use another --out for a new batch", sf.path)
	}
	return true, nil
}

// checkMissing refuses a run without a state file in a folder that holds
// this batch's renders, unless --fresh was given.
func (sf stateFile) checkMissing(log *slog.Logger) error {
	found := sf.renderEvidence()
	if len(found) == 0 {
		return nil
	}
	if sf.fresh {
		log.Warn("no state file beside earlier renders; starting over (--fresh): every row is submitted again",
			"state", sf.path, "found", strings.Join(found, ", "))
		return nil
	}
	return fmt.Errorf("%w: %s is not there, but %s holds this batch's renders (%s): a new state would submit, and pay for, every row again\nnothing was submitted. %s",
		store.ErrMissing, sf.path, sf.out, strings.Join(found, ", "), sf.waysBack(false))
}

// waysBack is the advice given with a refused state file.
func (sf stateFile) waysBack(isDamaged bool) string {
	state := ""
	if sf.custom {
		state = " --state " + sf.path
	}
	shardFlag := ""
	if sf.spec.IsSet() {
		shardFlag = " --shard " + sf.spec.String()
	}
	recover := fmt.Sprintf("`pikabatch recover --out %s%s%s` rebuilds the state from %s (request IDs, outputs, hashes: done rows stay done, jobs in flight are polled, not submitted again)",
		sf.out, state, shardFlag, sf.spec.IndexName("jsonl"))
	fresh := "`pikabatch run … --fresh` starts over and submits (and pays for) every row again"
	if isDamaged {
		recover += "; the damaged file is kept as " + filepath.Base(sf.path) + ".damaged-TIME"
		fresh += ", keeping the damaged file the same way"
	}
	return "Ways back: " + recover + "; or " + fresh + "."
}

// mediaExts are the extensions of result files a batch leaves in its folder.
var mediaExts = map[string]bool{
	".mp4": true, ".webm": true, ".mov": true, ".mkv": true, ".m4v": true, ".gif": true,
	".png": true, ".jpg": true, ".jpeg": true, ".webp": true, ".part": true,
}

// renderEvidence lists what in the output folder says a batch was rendered
// there with this state file: its results index, the state file's own
// leftovers (owner file, socket, recovery journal), and — for an unsharded
// batch, whose folder no other shard shares — result files.
func (sf stateFile) renderEvidence() []string {
	var found []string
	for _, p := range []string{store.JournalPath(sf.path), sf.path + ".owner", live.SocketPath(sf.path)} {
		if _, err := os.Lstat(p); err == nil {
			found = append(found, filepath.Base(p))
		}
	}
	for _, ext := range []string{"jsonl", "csv"} {
		name := sf.spec.IndexName(ext)
		if _, err := os.Lstat(filepath.Join(sf.out, name)); err == nil {
			found = append(found, name)
		}
	}
	if sf.spec.IsSet() {
		return found
	}
	entries, err := os.ReadDir(sf.out)
	if err != nil {
		return found
	}
	media := 0
	for _, e := range entries {
		if e.Type().IsRegular() && mediaExts[strings.ToLower(filepath.Ext(e.Name()))] {
			media++
		}
	}
	if media > 0 {
		found = append(found, fmt.Sprintf("%d result files", media))
	}
	return found
}

// moveAside renames a damaged state file to <path>.damaged-<time>, so that
// it can still be examined or mined for request IDs; it is never deleted.
func moveAside(path string, now time.Time) (string, error) {
	aside := path + ".damaged-" + now.UTC().Format("20060102T150405Z")
	if _, err := os.Lstat(aside); err == nil {
		return "", fmt.Errorf("%s already exists", aside)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	// The owner file and socket of the damaged file mean nothing now.
	_ = os.Remove(path + ".owner")
	return aside, nil
}

// binding is the API origin and model a run with c sends its jobs to.
func (c Config) binding() (store.Binding, error) {
	origin := c.BindOrigin
	if origin == "" {
		var err error
		if origin, err = store.Origin(c.APIBase); err != nil {
			return store.Binding{}, configf("--api-base: %v", err)
		}
	}
	return store.Binding{Origin: origin, Model: c.Model}, nil
}

// bindState refuses a state file recorded with another API origin or model
// (a ConfigError), and records this run's on first use. A state file from before
// bindings were kept is adopted, and the log says so.
func bindState(ctx context.Context, st *store.Store, c Config, log *slog.Logger) error {
	b, err := c.binding()
	if err != nil {
		return err
	}
	adopted, err := st.Bind(ctx, b)
	if err != nil {
		return err
	}
	if adopted == (store.Binding{}) {
		return nil
	}
	if hasJobs(ctx, st) {
		log.Warn("state file had no record of its API and model; recording this run's: later runs with another --api-base or --model are refused",
			"state", st.Path(), "api_origin", adopted.Origin, "model", adopted.Model)
	} else {
		log.Info("state file bound to its API and model", "state", st.Path(), "api_origin", b.Origin, "model", b.Model)
	}
	return nil
}

// hasJobs reports whether the store holds any job.
func hasJobs(ctx context.Context, st *store.Store) bool {
	err := st.ForEach(ctx, func(store.Job) error { return errStop })
	return errors.Is(err, errStop)
}

// compactState rewrites the state file with full pages when a run has left
// a fifth of it empty (store.Compact: records grow after they are first
// written). It fails without harm, the file as it was, so it only logs.
func compactState(ctx context.Context, st *store.Store, log *slog.Logger) {
	res, err := st.Compact(ctx)
	switch {
	case err != nil:
		log.Warn("state file not compacted", "err", err)
	case res.Compacted:
		log.Info("state file compacted", "bytes_before", res.Before, "bytes_after", res.After)
	}
}
