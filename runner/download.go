package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pikabatch/pikabatch/runner/backoff"
	"github.com/pikabatch/pikabatch/runner/redact"
	"github.com/pikabatch/pikabatch/runner/results"
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
	// IdleTimeout gives up on a transfer that brought no byte for this long
	// (a host that stalls mid-body, or never answers) and tries again,
	// resuming with Range. Default 60s.
	IdleTimeout time.Duration
}

// Download errors.
var (
	// ErrOutput: the output folder cannot be written (permissions, disk full).
	// It stops the run: every later download would fail the same way. It is
	// results.ErrOutput, which index and export writers return too.
	ErrOutput = results.ErrOutput
	// ErrURLExpired: the storage host refused a result URL (expired pre-signed link).
	ErrURLExpired = errors.New("result URL expired")
	// ErrTooLarge: a result file is larger than the configured cap.
	ErrTooLarge = errors.New("result file too large")
	// ErrStalled: the storage host sent nothing for DownloadConfig.IdleTimeout.
	// The transfer is tried again.
	ErrStalled = errors.New("storage host stalled")
	// ErrBadRedirect: the storage host redirected to a URL that is not
	// http or https (file:, ftp:…). It is never followed, nor retried.
	ErrBadRedirect = errors.New("redirect to a non-http URL refused")
)

type downloader struct {
	cfg    DownloadConfig
	fs     FS
	client *http.Client
	dir    string
	log    *slog.Logger
	// dirSync shares fsyncs of dir between downloads finishing together;
	// the run owns it (Run).
	dirSync *dirSyncer
	// nameTaken reports whether a job other than key records a file of this
	// name (ignoring case). Nil: none does.
	nameTaken func(ctx context.Context, name, key string) bool
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
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	d := &downloader{cfg: cfg, fs: fs, client: fileClient(client), dir: dir, log: log}
	return d
}

// fileClient is c made fit for a storage host: it never sends a Referer
// (a redirect would carry the pre-signed query of the URL before it to the
// next host) nor an Authorization header (Go builds one from a URL's user
// information), and it follows redirects only to http and https URLs.
func fileClient(c *http.Client) *http.Client {
	fc := *c
	base := fc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	fc.Transport = noCredentials{base}
	next := c.CheckRedirect
	fc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if s := req.URL.Scheme; s != "http" && s != "https" {
			return fmt.Errorf("%w: the storage host sent the download to a %s: URL", ErrBadRedirect, s)
		}
		req.Header.Del("Referer")
		req.Header.Del("Authorization")
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &fc
}

// noCredentials removes Referer and Authorization from every request it
// sends, whatever set them.
type noCredentials struct{ base http.RoundTripper }

func (t noCredentials) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Referer") != "" || req.Header.Get("Authorization") != "" {
		req = req.Clone(req.Context()) // a RoundTripper must not change its request
		req.Header.Del("Referer")
		req.Header.Del("Authorization")
	}
	return t.base.RoundTrip(req)
}

// present reports whether every output of a done job is on disk with its
// recorded size. Resume trusts stat, not a re-hash: a file reaches its
// final name only complete and fsynced, and re-reading every output of a
// large batch on each resume would cost more than it guards against
// (`pikabatch verify` re-hashes on demand).
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

// outputPresent reports whether o is on disk as a regular file of its
// recorded size. A symbolic link where a file should be is not present:
// its target is not what was downloaded, whatever its size.
func (d *downloader) outputPresent(o store.Output) bool {
	if o.Path == "" || o.SHA256 == "" || !filepath.IsLocal(o.Path) {
		return false
	}
	fi, err := d.fs.Lstat(filepath.Join(d.dir, o.Path))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == o.Size
}

// download fetches every output of a rendered job and records it done.
// Job-level problems (a file that stays unreachable) mark the job failed;
// an unwritable output folder is returned, as it stops the run.
func (r *run) download(ctx context.Context, job store.Job) (store.Job, error) {
	d := r.files
	outs := append([]store.Output(nil), job.Outputs...)
	refreshes := 0
	for i := 0; i < len(outs); i++ {
		if d.outputPresent(outs[i]) {
			continue
		}
		var got store.Output
		var err error
		if outs[i].URL == "" {
			// A done job keeps no result URL (the store drops them: they are
			// pre-signed and expire), nor does one recovered from the index.
			err = fmt.Errorf("no result URL recorded: %w", ErrURLExpired)
		} else {
			got, err = d.fetch(ctx, job.Key, i, len(outs), outs[i], &r.stats)
		}
		if errors.Is(err, ErrURLExpired) && refreshes < d.cfg.Refreshes {
			refreshes++
			fresh, rerr := r.refreshOutputs(ctx, job)
			if rerr != nil {
				err = rerr
			} else {
				r.stats.urlRefreshes.Add(1)
				for k := range fresh.Outputs {
					// What this job already holds on disk stays its own.
					fresh.Outputs[k].Path, fresh.Outputs[k].Size, fresh.Outputs[k].SHA256 = outs[k].Path, outs[k].Size, outs[k].SHA256
				}
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
	cost := r.lateCost(ctx, job)
	now := r.cfg.Now()
	rec, err := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		j.Outputs = append([]store.Output(nil), outs...)
		j.State = store.StateDone
		j.DownloadedAt = now
		j.LastError = ""
		if cost != nil {
			j.CostUSD = cost
		}
		return nil
	})
	if err != nil {
		return job, fmt.Errorf("record download of %q: %w", job.Key, err)
	}
	job = rec
	r.stats.reportedCost(cost)
	for i := range outs {
		if !safeKey(job.Key) {
			break
		}
		// A part file named as pikabatch named them before the names of
		// outname.go, left by a cut-off download, is never resumed now.
		_ = d.fs.Remove(filepath.Join(d.dir, fmt.Sprintf(".pikabatch-%s-%d.part", job.Key, i)))
	}
	r.stats.downloaded.Add(1)
	r.log.Info("downloaded", "key", job.Key, "request_id", job.RequestID, "files", len(outs))
	if r.cfg.OnSaved != nil {
		r.cfg.OnSaved(ctx, job)
	}
	if h := r.cfg.Hooks.Downloaded; h != nil {
		h(job.Key)
	}
	return job, nil
}

// lateCost asks the result endpoint once more for the cost of a job whose
// result came without one, and returns it, or nil. The API may bill a job
// a little after it reports it done, so the first result can lack the
// cost; by the time the files are down it is usually there. Any error
// leaves the cost unknown: the files are what matters here.
//
// An API that never reports a cost would pay one more call per job for
// nothing: after lateCostTries misses and no cost ever found this way, the
// run stops asking.
func (r *run) lateCost(ctx context.Context, job store.Job) *float64 {
	if job.CostUSD != nil || job.RequestID == "" || ctx.Err() != nil {
		return nil
	}
	if r.lateCosts.found.Load() == 0 && r.lateCosts.missed.Load() >= lateCostTries {
		return nil
	}
	r.stats.polls.Add(1)
	res, err := r.api.Result(ctx, job.RequestID)
	if err != nil || res.Cost == nil {
		r.lateCosts.missed.Add(1)
		r.log.Debug("cost still unknown after the download", "key", job.Key, "request_id", job.RequestID, "err", err)
		return nil
	}
	r.lateCosts.found.Add(1)
	return res.Cost
}

// lateCostTries is how many jobs are asked again for their cost, in a run
// where none had it, before the run takes it that the API does not report
// costs.
const lateCostTries = 16

// lateCosts counts the second looks for a cost: found, or not.
type lateCosts struct {
	found, missed atomic.Int64
}

// refreshOutputs asks the result endpoint for fresh file URLs and records them.
func (r *run) refreshOutputs(ctx context.Context, job store.Job) (store.Job, error) {
	res, err := r.api.Result(ctx, job.RequestID)
	if err != nil {
		return job, fmt.Errorf("refresh result URLs: %w", err)
	}
	if len(res.Outputs) != len(job.Outputs) {
		return job, fmt.Errorf("refresh result URLs: the API now lists %d outputs, not %d", len(res.Outputs), len(job.Outputs))
	}
	j, err := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		for i, u := range res.Outputs {
			j.Outputs[i].URL = u
		}
		return nil
	})
	if err != nil {
		return job, fmt.Errorf("record refreshed URLs of %q: %w", job.Key, err)
	}
	// The record of a done job (a file gone missing) keeps no URL: the
	// store drops them. The download uses the fresh ones all the same.
	for i, u := range res.Outputs {
		j.Outputs[i].URL = u
	}
	return j, nil
}

func (r *run) downloadFailed(ctx context.Context, job store.Job, cause error) (store.Job, error) {
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
		return "result file larger than the size cap"
	case errors.Is(cause, ErrURLExpired):
		return "result URL still refused after refreshing it"
	case errors.Is(cause, ErrBadRedirect):
		return "storage host redirected to a non-http URL"
	}
	return "download failed; the next run tries again"
}

// fetch downloads one file to a temporary name in the output folder,
// resuming a cut-off transfer with Range when the server allows it, checks
// it against Content-Length, fsyncs it and renames it into place. own is
// what the job recorded for this output so far.
func (d *downloader) fetch(ctx context.Context, key string, i, n int, own store.Output, st *counters) (store.Output, error) {
	part := filepath.Join(d.dir, partName(key, i))
	var lastErr error
	for attempt := 0; attempt <= d.cfg.Retries; attempt++ {
		if attempt > 0 {
			st.downloadRetries.Add(1)
			if err := backoff.Sleep(ctx, retryWait(d.cfg.BackoffBase).Delay(attempt-1)); err != nil {
				return store.Output{}, err
			}
		}
		t, err := d.transfer(ctx, own.URL, part)
		if err == nil {
			return d.commit(ctx, t, part, key, i, n, own)
		}
		var perm permanentError
		switch {
		case ctx.Err() != nil:
			return store.Output{}, ctx.Err()
		case errors.Is(err, ErrOutput), errors.Is(err, ErrURLExpired), errors.As(err, &perm):
			return store.Output{}, err
		}
		lastErr = err
		d.log.Debug("download interrupted; retrying", "key", key, "attempt", attempt+1, "err", err)
	}
	return store.Output{}, fmt.Errorf("after %d tries: %w", d.cfg.Retries+1, lastErr)
}

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// dropPart closes (if open) and deletes a part file that will never be
// completed, as a body over the cap is deleted.
func (d *downloader) dropPart(f *File, part string) {
	if *f != nil {
		_ = (*f).Close()
		*f = nil
	}
	_ = d.fs.Remove(part)
}

// transferred is a part file that holds a whole body.
type transferred struct {
	// f is the part file, still open: commit fsyncs it (and hashes it, after
	// a resumed transfer) without opening it by name again.
	f     File
	sum   []byte // SHA-256 of the body when one response brought it whole; else nil
	size  int64
	ctype string
}

// openPart opens the part file left by an earlier attempt, to resume it.
// It returns nil (and removes what is there) unless that is a regular file
// with a single link: a symbolic or hard link planted in the folder would
// make the download write into a file elsewhere.
func (d *downloader) openPart(part string) (File, int64) {
	fi, err := d.fs.Lstat(part)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0
	}
	if err == nil && fi.Mode().IsRegular() && singleLink(fi) {
		f, err := d.fs.OpenFile(part, os.O_RDWR|oNoFollow, 0)
		if err == nil {
			if ofi, err := f.Stat(); err == nil && os.SameFile(fi, ofi) && ofi.Mode().IsRegular() && singleLink(ofi) {
				return f, ofi.Size()
			}
			_ = f.Close()
		}
	}
	if err == nil && (!fi.Mode().IsRegular() || !singleLink(fi)) {
		d.log.Warn("a link or special file where a download goes; removed", "file", filepath.Base(part), "mode", fi.Mode().String())
	}
	_ = d.fs.Remove(part) // a link is removed, never its target
	return nil, 0
}

// createPart creates the part file afresh. O_EXCL fails on anything at that
// name, a symbolic link included (even one to a file that does not exist),
// so a file is never written through a link; something that appears there
// is removed once and the create tried again.
func (d *downloader) createPart(part string) (File, error) {
	flag := os.O_RDWR | os.O_CREATE | os.O_EXCL | oNoFollow
	f, err := d.fs.OpenFile(part, flag, 0o644)
	if errors.Is(err, fs.ErrExist) {
		_ = d.fs.Remove(part)
		f, err = d.fs.OpenFile(part, flag, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	return f, nil
}

// transfer brings the part file one step closer to complete. It returns
// once the part file holds the whole body.
func (d *downloader) transfer(ctx context.Context, rawURL, part string) (transferred, error) {
	f, offset := d.openPart(part)
	handedOver := false // to commit, open
	defer func() {
		if f != nil && !handedOver {
			_ = f.Close()
		}
	}()
	// Every read that brings bytes pushes the deadline back; the cause
	// tells a stall from the run's own cancellation.
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(d.cfg.IdleTimeout, func() { cancel(ErrStalled) })
	defer idle.Stop()
	stalled := func(got int64) error {
		if ctx.Err() != nil || !errors.Is(context.Cause(tctx), ErrStalled) {
			return nil
		}
		return fmt.Errorf("%w: no data for %s after %d bytes", ErrStalled, d.cfg.IdleTimeout, got)
	}

	resp, err := d.get(tctx, rawURL, offset, stalled)
	if err != nil {
		return transferred{}, err
	}
	defer resp.Body.Close()
	var total int64
	if offset, total, err = d.bodyRange(resp, part, offset); err != nil {
		return transferred{}, err
	}
	if total > d.cfg.MaxBytes {
		d.dropPart(&f, part) // a part resumed under this cap would never be completed
		return transferred{}, permanentError{fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, total, d.cfg.MaxBytes)}
	}
	if f, err = d.positionPart(f, part, offset); err != nil {
		return transferred{}, err
	}
	body := &idleReader{r: resp.Body, t: idle, d: d.cfg.IdleTimeout}
	t, err := d.stream(f, part, body, offset, total, stalled)
	if err != nil {
		return transferred{}, err
	}
	handedOver = true
	t.ctype = resp.Header.Get("Content-Type")
	return t, nil
}

// get asks for the body from offset on. stalled says whether the
// request failed because no data came (see transfer).
func (d *downloader) get(ctx context.Context, rawURL string, offset int64, stalled func(got int64) error) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, permanentError{fmt.Errorf("bad result URL: %w", redact.URLError(err))}
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrBadRedirect) {
			return nil, permanentError{redact.URLError(err)}
		}
		if serr := stalled(offset); serr != nil {
			return nil, serr
		}
		return nil, redact.URLError(err)
	}
	return resp, nil
}

// bodyRange reads what the storage host's answer holds: the offset its
// body starts at (0 unless it resumed the part file) and the whole
// body's size (-1 if unknown). An answer with no body to keep is an
// error, permanent unless a retry may bring one.
func (d *downloader) bodyRange(resp *http.Response, part string, offset int64) (start, total int64, err error) {
	switch {
	case resp.StatusCode == http.StatusOK:
		return 0, resp.ContentLength, nil
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			_ = d.fs.Remove(part)
			return 0, 0, fmt.Errorf("unexpected Content-Range %q", resp.Header.Get("Content-Range"))
		}
		return offset, size, nil
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		_ = d.fs.Remove(part) // stale part file: start over
		return 0, 0, errors.New("range not satisfiable; restarting")
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return 0, 0, fmt.Errorf("storage answered %s: %w", resp.Status, ErrURLExpired)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return 0, 0, fmt.Errorf("storage answered %s", resp.Status)
	}
	return 0, 0, permanentError{fmt.Errorf("storage answered %s", resp.Status)}
}

// positionPart readies the part file (created if f is nil) to take the
// body from offset. It returns the file even on an error, for the
// caller to close.
func (d *downloader) positionPart(f File, part string, offset int64) (File, error) {
	// Positioned writes, never O_APPEND: the file was opened by this
	// attempt and its size read from the open file.
	var err error
	switch {
	case f == nil:
		return d.createPart(part)
	case offset == 0:
		if err = f.Truncate(0); err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
	default:
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		return f, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	return f, nil
}

// stream copies body into the part file f from offset on, hashing it when
// it starts the file, and checks that it came whole (total bytes, when
// known) and within the cap.
func (d *downloader) stream(f File, part string, body io.Reader, offset, total int64, stalled func(got int64) error) (transferred, error) {
	var w io.Writer = tagWrites{f}
	var h hash.Hash
	if offset == 0 {
		h = sha256.New()
		w = io.MultiWriter(w, h) // hashed as it streams: commit need not read it back
	}
	limit := d.cfg.MaxBytes - offset + 1
	buf := copyBuffers.Get().(*[]byte)
	n, copyErr := io.CopyBuffer(w, io.LimitReader(body, limit), *buf)
	copyBuffers.Put(buf)
	if copyErr != nil {
		if we := (*writeError)(nil); errors.As(copyErr, &we) {
			return transferred{}, fmt.Errorf("%w: %w", ErrOutput, we.err)
		}
		if err := stalled(offset + n); err != nil {
			return transferred{}, err
		}
		return transferred{}, fmt.Errorf("body cut off after %d bytes: %w", offset+n, copyErr)
	}
	got := offset + n
	if got > d.cfg.MaxBytes {
		_ = d.fs.Remove(part)
		return transferred{}, permanentError{fmt.Errorf("%w: over the cap of %d bytes", ErrTooLarge, d.cfg.MaxBytes)}
	}
	if total >= 0 && got != total {
		return transferred{}, fmt.Errorf("body cut off: %d of %d bytes", got, total)
	}
	t := transferred{f: f, size: got}
	if h != nil {
		t.sum = h.Sum(nil)
	}
	return t, nil
}

// idleReader pushes the stall deadline back whenever bytes arrive.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.d)
	}
	return n, err
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

// copyBuffers hold the buffers downloads stream through. io.Copy would
// allocate 32 KiB for each, which at a million downloads was a third of
// all the bytes a run allocated, and the collector's work with it.
var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// commit fsyncs the complete part file, hashing it if its transfer could
// not, and renames it into place under the output's final name (see
// outname.go). A rename replaces whatever is at the final name, a
// symbolic link included, and never writes through it.
func (d *downloader) commit(ctx context.Context, t transferred, part, key string, i, n int, own store.Output) (store.Output, error) {
	f, sum := t.f, t.sum
	var err error
	if sum == nil {
		h := sha256.New()
		if _, err = f.Seek(0, io.SeekStart); err == nil {
			_, err = io.Copy(h, f)
		}
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
	name := d.finalName(ctx, key, i, n, outputExt(own.URL, t.ctype), own.Path)
	if err := d.fs.Rename(part, filepath.Join(d.dir, name)); err != nil {
		return store.Output{}, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	if err := d.syncDir(); err != nil {
		return store.Output{}, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	return store.Output{URL: own.URL, Path: name, Size: t.size, SHA256: hex.EncodeToString(sum)}, nil
}

// syncDir makes the renames into d.dir durable, sharing the fsync with
// the run's other downloads when a run owns d.
func (d *downloader) syncDir() error {
	if d.dirSync == nil {
		return d.fs.SyncDir(d.dir)
	}
	return d.dirSync.Sync()
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
