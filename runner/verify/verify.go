// Package verify re-hashes a batch's downloaded files against what the
// state file recorded for them. A run trusts `stat` (a done file with its
// recorded size is done); verify is the slow, thorough check a user runs
// before handing a dataset on, or after a disk scare.
//
// It only reads, unless asked to remove the files that failed: a removed
// file is downloaded again by the next run (the render is kept by the API,
// and an expired URL is refreshed), never rendered again.
package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// Problem is what is wrong with one file.
type Problem string

const (
	Missing    Problem = "missing"
	WrongSize  Problem = "wrong size"
	WrongHash  Problem = "wrong SHA-256"
	Unreadable Problem = "unreadable"
	// Unsafe is a recorded path that would lead outside the folder; it is
	// reported and never opened or removed.
	Unsafe Problem = "unsafe path"
	// NotRegular is a symbolic link (or a folder, a device…) where a
	// downloaded file should be. A link is never followed: whatever it
	// points at is not the file that was downloaded. --remove-bad removes
	// the link itself, never its target.
	NotRegular Problem = "not a regular file"
)

// Finding is one file that failed the check.
type Finding struct {
	Key     string  `json:"key"`
	Path    string  `json:"path"`
	Problem Problem `json:"problem"`
	Detail  string  `json:"detail,omitempty"`
	Removed bool    `json:"removed,omitempty"`
}

// Report is the outcome of a check.
type Report struct {
	Jobs     int       `json:"jobs"`  // done jobs checked
	Files    int       `json:"files"` // their files
	OK       int       `json:"ok"`
	Bytes    int64     `json:"bytes"` // read and hashed
	Findings []Finding `json:"findings"`
}

// Entries yields a batch's index entries, as live.Source.Export does.
type Entries func(ctx context.Context, fn func(results.Entry) error) error

// Options tune a check. Zero values take the defaults.
type Options struct {
	// Workers hash files at once. Default GOMAXPROCS.
	Workers int
	// RemoveBad removes every file that is there but wrong (size, hash),
	// so that the next run downloads it again.
	RemoveBad bool
}

// Check hashes the files of every done job that entries yields, under dir,
// and compares them with the recorded size and SHA-256. Findings come in
// the order the entries did.
func Check(ctx context.Context, dir string, entries Entries, opts Options) (Report, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	// Each file's result lands in a slot of its own, so the findings keep
	// the entries' order whatever order the workers finish in. Workers
	// write through the slot's pointer, never into the growing slice.
	type slot struct {
		finding *Finding
		read    int64
	}
	var rep Report
	var slots []*slot
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Workers)
	err := entries(gctx, func(e results.Entry) error {
		if e.State != store.StateDone {
			return nil
		}
		rep.Jobs++
		for _, ref := range e.Files {
			sl := &slot{}
			slots = append(slots, sl)
			key := e.Key
			g.Go(func() error {
				var err error
				sl.finding, sl.read, err = checkFile(gctx, dir, key, ref, opts.RemoveBad)
				return err
			})
		}
		return nil
	})
	if werr := g.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return rep, err
	}
	rep.Files = len(slots)
	for _, sl := range slots {
		rep.Bytes += sl.read
		if sl.finding == nil {
			rep.OK++
			continue
		}
		rep.Findings = append(rep.Findings, *sl.finding)
	}
	return rep, nil
}

// checkFile checks one file and returns a finding (nil if it is right) and
// the bytes it read. The error is for the check itself: a cancelled context.
func checkFile(ctx context.Context, dir, key string, ref results.FileRef, removeBad bool) (*Finding, int64, error) {
	find := func(p Problem, detail string) *Finding {
		return &Finding{Key: key, Path: ref.Path, Problem: p, Detail: detail}
	}
	if !filepath.IsLocal(ref.Path) {
		return find(Unsafe, "recorded path leads outside the folder"), 0, nil
	}
	path := filepath.Join(dir, ref.Path)
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return find(Missing, "the next run downloads it again"), 0, nil
	case err != nil:
		return find(Unreadable, err.Error()), 0, nil
	case !fi.Mode().IsRegular():
		bad := find(NotRegular, fmt.Sprintf("a %s, not the downloaded file; the next run downloads it again", kind(fi.Mode())))
		if removeBad && fi.Mode()&fs.ModeDir == 0 {
			removeFile(bad, path)
		}
		return bad, 0, nil
	}
	f, err := openNoFollow(path)
	if err != nil {
		return find(Unreadable, err.Error()), 0, nil
	}
	defer f.Close()
	if ofi, err := f.Stat(); err != nil || !os.SameFile(fi, ofi) {
		// Swapped between the two looks: report it, never hash what came.
		return find(Unreadable, "the file changed while it was checked"), 0, nil
	}
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if ctx.Err() != nil {
		return nil, n, ctx.Err()
	}
	if err != nil {
		return find(Unreadable, err.Error()), n, nil
	}
	var bad *Finding
	switch sum := hex.EncodeToString(h.Sum(nil)); {
	case n != ref.Size:
		bad = find(WrongSize, fmt.Sprintf("%d bytes, recorded %d", n, ref.Size))
	case sum != ref.SHA256:
		bad = find(WrongHash, fmt.Sprintf("%s, recorded %s", sum, ref.SHA256))
	default:
		return nil, n, nil
	}
	if removeBad {
		_ = f.Close()
		removeFile(bad, path)
	}
	return bad, n, nil
}

// removeFile removes path (a link itself, never its target) for --remove-bad
// and says so in the finding.
func removeFile(bad *Finding, path string) {
	if err := os.Remove(path); err == nil {
		bad.Removed = true
		bad.Detail += "; removed: the next run downloads it again"
	} else {
		bad.Detail += "; not removed: " + err.Error()
	}
}

// kind names a file mode that is not a regular file.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "folder"
	}
	return "special file"
}

// ctxReader stops a long hash when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
