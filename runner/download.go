package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pikabatch/pikabatch/store"
)

// DownloadConfig tunes result downloads. Zero values take the defaults.
type DownloadConfig struct {
	// MaxBytes refuses result files larger than this. Default 2 GiB.
	MaxBytes int64
	// Retries is how often a cut-off or failed download is tried again. Default 6.
	Retries int
	// Refreshes is how often an expired result URL is refreshed from the API. Default 3.
	Refreshes int
	// BackoffBase is the first retry delay; it doubles, with jitter, up to 10s. Default 200ms.
	BackoffBase time.Duration
}

// Download errors.
var (
	// ErrOutput: the output folder cannot be written (permissions, disk full).
	// It stops the run: every later download would fail the same way.
	ErrOutput = errors.New("output folder cannot be written")
	// ErrURLExpired: the storage host refused a result URL (expired pre-signed link).
	ErrURLExpired = errors.New("result URL expired")
	// ErrTooLarge: a result file is larger than the configured cap.
	ErrTooLarge = errors.New("result file too large")
)

// FS is the file-system seam of the downloader, so tests can make writes fail
// (disk full) where running as root makes permissions prove nothing.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes a rename in dir durable.
	SyncDir(dir string) error
}

// File is an open file as the downloader uses it.
type File interface {
	io.ReadWriteCloser
	Sync() error
	Stat() (os.FileInfo, error)
}

// OSFS is the real file system.
type OSFS struct{}

var _ FS = OSFS{}

func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	return os.OpenFile(name, flag, perm)
}
func (OSFS) Rename(oldpath, newpath string) error  { return os.Rename(oldpath, newpath) }
func (OSFS) Remove(name string) error              { return os.Remove(name) }
func (OSFS) Stat(name string) (os.FileInfo, error) { return os.Stat(name) }
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

type downloader struct {
	cfg    DownloadConfig
	fs     FS
	client *http.Client
	dir    string
	log    *slog.Logger
	// dirSync shares fsyncs of dir between downloads finishing together.
	dirSync *dirSyncer
}

func newDownloader(cfg DownloadConfig, fs FS, client *http.Client, dir string, log *slog.Logger) *downloader {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 2 << 30
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 6
	}
	if cfg.Refreshes <= 0 {
		cfg.Refreshes = 3
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 200 * time.Millisecond
	}
	d := &downloader{cfg: cfg, fs: fs, client: client, dir: dir, log: log}
	d.dirSync = newDirSyncer(func() error { return fs.SyncDir(dir) })
	return d
}

// present reports whether every output of a done job is on disk with its
// recorded size. Resume trusts stat, not a re-hash (DESIGN.md).
func (d *downloader) present(job store.Job) bool {
	if len(job.Outputs) == 0 {
		return false
	}
	for _, o := range job.Outputs {
		if !d.outputPresent(o) {
			return false
		}
	}
	return true
}

func (d *downloader) outputPresent(o store.Output) bool {
	if o.Path == "" || o.SHA256 == "" {
		return false
	}
	fi, err := d.fs.Stat(filepath.Join(d.dir, o.Path))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == o.Size
}

// download fetches every output of a rendered job and records it done.
// Job-level problems (a file that stays unreachable) mark the job failed;
// an unwritable output folder is returned, as it stops the run.
func (r *Runner) download(ctx context.Context, job store.Job) (store.Job, error) {
	d := r.dl
	outs := append([]store.Output(nil), job.Outputs...)
	refreshes := 0
	for i := 0; i < len(outs); i++ {
		if d.outputPresent(outs[i]) {
			continue
		}
		got, err := d.fetch(ctx, job.Key, i, len(outs), outs[i].URL, &r.stats)
		if errors.Is(err, ErrURLExpired) && refreshes < d.cfg.Refreshes {
			refreshes++
			fresh, rerr := r.refreshOutputs(ctx, job)
			if rerr != nil {
				err = rerr
			} else {
				r.stats.urlRefreshes.Add(1)
				outs, job = fresh.Outputs, fresh
				i-- // the same output again, with its fresh URL
				continue
			}
		}
		switch {
		case err == nil:
			outs[i].Path, outs[i].Size, outs[i].SHA256 = got.Path, got.Size, got.SHA256
			continue
		case ctx.Err() != nil:
			return job, ctx.Err()
		case errors.Is(err, ErrOutput):
			return job, err
		}
		return r.downloadFailed(ctx, job, err)
	}
	now := r.cfg.Now()
	job, err := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		j.Outputs = append([]store.Output(nil), outs...)
		j.State = store.StateDone
		j.DownloadedAt = now
		j.LastError = ""
		return nil
	})
	if err != nil {
		return job, fmt.Errorf("record download of %q: %w", job.Key, err)
	}
	r.stats.downloaded.Add(1)
	r.log.Info("downloaded", "key", job.Key, "request_id", job.RequestID, "files", len(outs))
	if h := r.cfg.Hooks.Downloaded; h != nil {
		h(job.Key)
	}
	return job, nil
}

// refreshOutputs asks the result endpoint for fresh file URLs and records them.
func (r *Runner) refreshOutputs(ctx context.Context, job store.Job) (store.Job, error) {
	res, err := r.api.Result(ctx, job.RequestID)
	if err != nil {
		return job, fmt.Errorf("refresh result URLs: %w", err)
	}
	if len(res.Outputs) != len(job.Outputs) {
		return job, fmt.Errorf("refresh result URLs: the API now lists %d outputs, not %d", len(res.Outputs), len(job.Outputs))
	}
	return r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		for i, u := range res.Outputs {
			j.Outputs[i].URL = u
		}
		return nil
	})
}

func (r *Runner) downloadFailed(ctx context.Context, job store.Job, cause error) (store.Job, error) {
	msg := "download: " + cause.Error()
	j, err := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		// Still rendered: the next run tries the download again, never the render.
		j.LastError = msg
		return nil
	})
	if err != nil {
		return job, fmt.Errorf("record download failure of %q: %w", job.Key, err)
	}
	// Counted as a failure of this run, so that a row left undownloaded
	// never ends a run as a success; the render itself is kept.
	r.fail(job, downloadFailReason(cause))
	r.log.Error("download failed; will retry next run", "key", job.Key, "request_id", job.RequestID, "err", cause)
	return j, nil
}

// downloadFailReason groups download failures for the summary.
func downloadFailReason(cause error) string {
	switch {
	case errors.Is(cause, ErrTooLarge):
		return "result file larger than --max-file-size"
	case errors.Is(cause, ErrURLExpired):
		return "result URL still refused after refreshing it"
	}
	return "download failed; the next run tries again"
}

// fetch downloads one file to a temporary name in the output folder,
// resuming a cut-off transfer with Range when the server allows it, checks
// it against Content-Length, fsyncs it and renames it into place.
func (d *downloader) fetch(ctx context.Context, key string, i, n int, rawURL string, st *counters) (store.Output, error) {
	part := filepath.Join(d.dir, fmt.Sprintf(".pikabatch-%s-%d.part", key, i))
	var lastErr error
	for attempt := 0; attempt <= d.cfg.Retries; attempt++ {
		if attempt > 0 {
			st.downloadRetries.Add(1)
			if err := sleepCtx(ctx, backoff(d.cfg.BackoffBase, attempt)); err != nil {
				return store.Output{}, err
			}
		}
		t, err := d.transfer(ctx, rawURL, part)
		if err == nil {
			return d.commit(t, part, key, i, n, rawURL)
		}
		var perm permanentError
		switch {
		case ctx.Err() != nil:
			return store.Output{}, ctx.Err()
		case errors.Is(err, ErrOutput), errors.Is(err, ErrURLExpired), errors.As(err, &perm):
			return store.Output{}, err
		}
		lastErr = err
		d.log.Warn("download cut off; retrying", "key", key, "attempt", attempt+1, "err", err)
	}
	return store.Output{}, fmt.Errorf("after %d tries: %w", d.cfg.Retries+1, lastErr)
}

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// transferred is a part file that holds a whole body.
type transferred struct {
	// f is the part file, still open when the whole body came in one
	// response: commit fsyncs it without opening it again. Nil after a
	// resumed transfer, whose start was written by an earlier attempt.
	f     File
	sum   []byte // SHA-256 of the body, when f is set
	size  int64
	ctype string
}

// transfer brings the part file one step closer to complete. It returns
// once the part file holds the whole body.
func (d *downloader) transfer(ctx context.Context, rawURL, part string) (transferred, error) {
	fail := func(err error) (transferred, error) { return transferred{}, err }
	var offset int64
	if fi, err := d.fs.Stat(part); err == nil {
		offset = fi.Size()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fail(permanentError{fmt.Errorf("bad result URL: %w", redactURLError(err))})
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fail(redactURLError(err))
	}
	defer resp.Body.Close()

	var total int64
	flag := os.O_WRONLY | os.O_CREATE
	switch {
	case resp.StatusCode == http.StatusOK:
		offset, total = 0, resp.ContentLength
		flag |= os.O_TRUNC
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			_ = d.fs.Remove(part)
			return fail(fmt.Errorf("unexpected Content-Range %q", resp.Header.Get("Content-Range")))
		}
		total = size
		flag |= os.O_APPEND
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		_ = d.fs.Remove(part) // stale part file: start over
		return fail(errors.New("range not satisfiable; restarting"))
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fail(fmt.Errorf("storage answered %s: %w", resp.Status, ErrURLExpired))
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fail(fmt.Errorf("storage answered %s", resp.Status))
	default:
		return fail(permanentError{fmt.Errorf("storage answered %s", resp.Status)})
	}
	if total > d.cfg.MaxBytes {
		return fail(permanentError{fmt.Errorf("%w: %d bytes, cap %d (--max-file-size)", ErrTooLarge, total, d.cfg.MaxBytes)})
	}

	f, err := d.fs.OpenFile(part, flag, 0o644)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrOutput, err))
	}
	handedOver := false // to commit, open
	defer func() {
		if !handedOver {
			_ = f.Close()
		}
	}()
	var w io.Writer = tagWrites{f}
	var h hash.Hash
	if offset == 0 {
		h = sha256.New()
		w = io.MultiWriter(w, h) // hashed as it streams: commit need not read it back
	}
	limit := d.cfg.MaxBytes - offset + 1
	n, copyErr := io.Copy(w, io.LimitReader(resp.Body, limit))
	if copyErr != nil {
		if we := (*writeError)(nil); errors.As(copyErr, &we) {
			return fail(fmt.Errorf("%w: %w", ErrOutput, we.err))
		}
		return fail(fmt.Errorf("body cut off after %d bytes: %w", offset+n, copyErr))
	}
	got := offset + n
	if got > d.cfg.MaxBytes {
		_ = d.fs.Remove(part)
		return fail(permanentError{fmt.Errorf("%w: over %d bytes (--max-file-size)", ErrTooLarge, d.cfg.MaxBytes)})
	}
	if total >= 0 && got != total {
		return fail(fmt.Errorf("body cut off: %d of %d bytes", got, total))
	}
	t := transferred{size: got, ctype: resp.Header.Get("Content-Type")}
	if h == nil {
		// Resumed: commit reads the whole file back to hash it.
		handedOver = true
		if err := f.Close(); err != nil {
			return fail(fmt.Errorf("%w: %w", ErrOutput, err))
		}
		return t, nil
	}
	handedOver = true
	t.f, t.sum = f, h.Sum(nil)
	return t, nil
}

// writeError marks an error that came from writing the local file.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// tagWrites marks errors from the local file, so that a full disk is told
// apart from a body cut off by the network.
type tagWrites struct{ w io.Writer }

func (t tagWrites) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

// commit fsyncs the complete part file, hashing it if its transfer could
// not, and renames it into place.
func (d *downloader) commit(t transferred, part, key string, i, n int, rawURL string) (store.Output, error) {
	f, sum := t.f, t.sum
	var err error
	if f == nil {
		if f, err = d.fs.OpenFile(part, os.O_RDWR, 0); err != nil {
			return store.Output{}, fmt.Errorf("%w: %w", ErrOutput, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		sum = h.Sum(nil)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return store.Output{}, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	size, ctype := t.size, t.ctype
	name := outputName(key, i, n, rawURL, ctype)
	if err := d.fs.Rename(part, filepath.Join(d.dir, name)); err != nil {
		return store.Output{}, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	if err := d.dirSync.Sync(); err != nil {
		return store.Output{}, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	return store.Output{URL: rawURL, Path: name, Size: size, SHA256: hex.EncodeToString(sum)}, nil
}

// knownExt are the extensions a result file may keep from its URL.
var knownExt = map[string]bool{".mp4": true, ".mov": true, ".webm": true, ".mkv": true,
	".gif": true, ".png": true, ".jpg": true, ".jpeg": true, ".webp": true}

// outputName is the final file name of output i of n: <key>.<ext>, or
// <key>-<i+1>.<ext> when a job has several outputs. The key is already a
// safe file name (manifest checks it); the extension comes from a fixed list,
// so nothing in a URL can steer the file outside the output folder.
func outputName(key string, i, n int, rawURL, ctype string) string {
	ext := ""
	if u, err := url.Parse(rawURL); err == nil {
		if e := strings.ToLower(path.Ext(u.Path)); knownExt[e] {
			ext = e
		}
	}
	if ext == "" && ctype != "" {
		if mt, _, err := mime.ParseMediaType(ctype); err == nil {
			switch mt {
			case "video/mp4":
				ext = ".mp4"
			case "video/webm":
				ext = ".webm"
			case "video/quicktime":
				ext = ".mov"
			case "image/png":
				ext = ".png"
			case "image/jpeg":
				ext = ".jpg"
			case "image/webp":
				ext = ".webp"
			case "image/gif":
				ext = ".gif"
			}
		}
	}
	if ext == "" {
		ext = ".mp4"
	}
	base := filepath.Base(key)
	if n > 1 {
		return fmt.Sprintf("%s-%d%s", base, i+1, ext)
	}
	return base + ext
}

// parseContentRange reads "bytes START-END/SIZE".
func parseContentRange(v string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	s, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(s, 10, 64)
	size, err2 := strconv.ParseInt(total, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return start, size, true
}

// redactURLError drops the URL (whose query string may be a pre-signed
// credential) from an HTTP client error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, redactURL(ue.URL), ue.Err)
	}
	return err
}

// redactURL keeps scheme, host and path of a URL, never its query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// backoff is the delay before retry attempt n (1-based): exponential from
// base, capped at 10s, with full jitter so many downloads don't retry in step.
func backoff(base time.Duration, n int) time.Duration {
	d := base << min(n-1, 16)
	if d > 10*time.Second || d <= 0 {
		d = 10 * time.Second
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
