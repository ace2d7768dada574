package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pikabatch/pikabatch/manifest/shard"
	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// dialTimeout bounds connecting to a control socket: a live run answers at
// once, and a stale socket file refuses at once.
const dialTimeout = 2 * time.Second

// DefaultAnswerTimeout is how long a live run may stay silent, before its
// answer starts and between two parts of it, before it counts as not
// answering. A stopped process (SIGSTOP, a debugger) still has its socket
// accept connections, so without it status, export, cancel and verify
// waited forever. A run answers status at once; a long cancel or export
// keeps sending.
const DefaultAnswerTimeout = 10 * time.Second

// maxStatusAnswer bounds the size of a status answer. A run's is a few
// kilobytes (its longest parts, the uncertain and orphan keys, are capped);
// a peer that sends more is not a run, and reading on would only grow the
// decoder's buffer.
const maxStatusAnswer = 4 << 20

// Source answers for one state file: a live run through its socket
// (*Client), or the state file itself.
type Source interface {
	Status(ctx context.Context) (Status, error)
	Cancel(ctx context.Context, keys []string) (CancelReport, error)
	Export(ctx context.Context, fn func(results.Entry) error) error
	// IsLive reports whether a run is answering.
	IsLive() bool
	Close() error
}

var (
	_ Source = (*Client)(nil)
	_ Source = (*offline)(nil)
)

// Client asks a live run on its control socket.
type Client struct {
	path string
	hc   *http.Client
	// AnswerTimeout is how long the run may stay silent before a request
	// fails with ErrNotAnswering; Dial sets DefaultAnswerTimeout.
	AnswerTimeout time.Duration
}

// Dial connects to the control socket at path. It fails at once when no
// run is listening (no socket, or one left by a run that died).
func Dial(ctx context.Context, path string) (*Client, error) {
	addr, err := sockAddr(path)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		return nil, fmt.Errorf("no live run on %s: %w", path, err)
	}
	_ = conn.Close()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", addr)
		},
		MaxIdleConns: 1,
	}
	return &Client{path: path, hc: &http.Client{Transport: tr}, AnswerTimeout: DefaultAnswerTimeout}, nil
}

// IsLive reports true: a Client talks to a live run.
func (c *Client) IsLive() bool { return true }

// Close releases the client's connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// do sends one request. The answer may take as long as it keeps coming, each
// part within AnswerTimeout of the last; whole, when not zero, also bounds
// the whole exchange, for answers that a run gives at once.
func (c *Client) do(ctx context.Context, method, path string, body any, whole time.Duration) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	rctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(rctx, method, "http://pikabatch"+path, rd)
	if err != nil {
		cancel()
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// One timer for the whole exchange, pushed back by every part of the
	// answer that arrives: silence, not length, is what gives up.
	w := &watchdog{cancel: cancel, d: c.AnswerTimeout, whole: whole}
	w.timer = time.AfterFunc(w.d, w.fire)
	if whole > 0 {
		w.wholeTimer = time.AfterFunc(whole, w.fireWhole)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		w.stop()
		return nil, c.silent(w, err)
	}
	w.touch()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		w.stop()
		return nil, fmt.Errorf("live run on %s: %s: %s", c.path, resp.Status, strings.TrimSpace(string(msg)))
	}
	resp.Body = &watchedBody{ReadCloser: resp.Body, w: w, c: c}
	return resp, nil
}

// silent returns ErrNotAnswering for an exchange the watchdog ended, err
// otherwise.
func (c *Client) silent(w *watchdog, err error) error {
	if w.firedWhole.Load() {
		return fmt.Errorf("live run on %s: %w (no whole answer within %s)", c.path, ErrNotAnswering, w.whole)
	}
	if w.fired.Load() {
		return fmt.Errorf("live run on %s: %w (silent for %s)", c.path, ErrNotAnswering, w.d)
	}
	return fmt.Errorf("live run on %s: %w", c.path, err)
}

// watchdog cancels a request when the run stays silent for d, or when the
// whole exchange takes longer than whole (if set).
type watchdog struct {
	cancel     context.CancelFunc
	d          time.Duration
	timer      *time.Timer
	fired      atomic.Bool
	whole      time.Duration
	wholeTimer *time.Timer
	firedWhole atomic.Bool
}

func (w *watchdog) fire()      { w.fired.Store(true); w.cancel() }
func (w *watchdog) fireWhole() { w.firedWhole.Store(true); w.cancel() }
func (w *watchdog) touch()     { w.timer.Reset(w.d) }
func (w *watchdog) stop() {
	w.timer.Stop()
	if w.wholeTimer != nil {
		w.wholeTimer.Stop()
	}
	w.cancel()
}

// watchedBody pushes the watchdog back on every read that brings bytes.
type watchedBody struct {
	io.ReadCloser
	w *watchdog
	c *Client
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.touch()
	}
	if err != nil && !errors.Is(err, io.EOF) && (b.w.fired.Load() || b.w.firedWhole.Load()) {
		err = b.c.silent(b.w, err)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.stop()
	return b.ReadCloser.Close()
}

// Status asks the live run where the batch stands. A run answers at once
// and briefly, so the whole answer must come within AnswerTimeout and
// maxStatusAnswer bytes: a peer that keeps sending (a space every few
// seconds is never silent) counts as not answering.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	resp, err := c.do(ctx, http.MethodGet, pathStatus, nil, c.AnswerTimeout)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusAnswer+1))
	if err != nil {
		return st, fmt.Errorf("live run on %s: status: %w", c.path, err)
	}
	if len(raw) > maxStatusAnswer {
		return st, fmt.Errorf("live run on %s: %w (status answer over %d bytes)", c.path, ErrNotAnswering, maxStatusAnswer)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("live run on %s: status: %w", c.path, err)
	}
	return st, nil
}

// Cancel asks the live run to cancel jobs; it makes the API calls and
// records the outcomes. See Batch.Cancel.
func (c *Client) Cancel(ctx context.Context, keys []string) (CancelReport, error) {
	resp, err := c.do(ctx, http.MethodPost, pathCancel, cancelRequest{Keys: keys}, 0)
	if err != nil {
		return CancelReport{}, err
	}
	defer resp.Body.Close()
	var cr cancelResponse
	if err := json.NewDecoder(resp.Body).Decode(&cr); err != nil {
		return CancelReport{}, fmt.Errorf("live run on %s: cancel: %w", c.path, err)
	}
	if cr.Error != "" {
		return cr.Report, kindError(cr.Kind, cr.Error)
	}
	return cr.Report, nil
}

// Export streams the live run's index entries, in key order.
func (c *Client) Export(ctx context.Context, fn func(results.Entry) error) error {
	resp, err := c.do(ctx, http.MethodGet, pathExport, nil, 0)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var e results.Entry
		err := dec.Decode(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("live run on %s: export: %w", c.path, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if msg := resp.Trailer.Get(trailerError); msg != "" {
		return fmt.Errorf("live run on %s: export: %s", c.path, msg)
	}
	return nil
}

// OpenOptions tune Open.
type OpenOptions struct {
	// Write opens the state file for writing when no run is live; Cancel
	// needs it. Otherwise it is opened read-only.
	Write bool
	// API builds the client Cancel uses when no run is live (a live run
	// cancels with its own). Nil: Cancel fails with ErrNoAPI.
	API func() (Canceller, error)
	// LockTimeout is how long to wait for the state file; default 1s.
	LockTimeout time.Duration
	// Now is the clock for ages; default time.Now.
	Now func() time.Time
	// Command names this process in the owner file while it holds the
	// state file for writing, e.g. "pikabatch cancel".
	Command string
	// AnswerTimeout is how long a live run may stay silent before a request
	// to it fails with ErrNotAnswering; default DefaultAnswerTimeout.
	AnswerTimeout time.Duration
	// StateOnly reads the state file and never asks a control socket, for
	// a caller that acts on the answer in ways a live run's word must not
	// decide (verify removing files): anyone able to create the socket can
	// answer on it. A run holding the file then makes Open fail with the
	// store's *store.LockedError.
	StateOnly bool
	// Binding is the API origin (and model, if set) that API sends to.
	// Before the first call, the state file's recorded binding is checked
	// against it (a *store.BindingError when they differ) and recorded if
	// there is none. A live run cancels with its own client, and is not
	// asked.
	Binding store.Binding
}

// Open reaches the batch of the state file at statePath: through the
// control socket of a live run if one answers, otherwise by opening the
// file. If the file is locked and nobody answers on the socket (a run on
// another host sharing the folder, or one just starting), it returns the
// store's *store.LockedError, which names the holder.
func Open(ctx context.Context, statePath string, opts OpenOptions) (Source, error) {
	if _, err := os.Stat(statePath); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s: no run has started there", ErrNoState, statePath)
		}
		return nil, err
	}
	sock := SocketPath(statePath)
	dial := func() (*Client, error) {
		c, err := Dial(ctx, sock)
		if err == nil && opts.AnswerTimeout > 0 {
			c.AnswerTimeout = opts.AnswerTimeout
		}
		return c, err
	}
	if !opts.StateOnly {
		if c, err := dial(); err == nil {
			return c, nil
		}
	}
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	st, err := store.Open(statePath, store.Options{ReadOnly: !opts.Write, LockTimeout: timeout,
		Owner: store.CurrentOwner(opts.Command)})
	if errors.Is(err, store.ErrLocked) && !opts.StateOnly {
		// A run may have taken the lock after the first try; ask again.
		if c, derr := dial(); derr == nil {
			return c, nil
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	api := opts.API
	if api != nil && opts.Binding != (store.Binding{}) {
		api = func() (Canceller, error) {
			if _, err := st.Bind(ctx, opts.Binding); err != nil {
				return nil, err
			}
			return opts.API()
		}
	}
	b := &Batch{Path: statePath, Store: st, API: api, Now: opts.Now}
	if b.Pricer, err = recordedPrice(ctx, st); err == nil {
		b.Rows, b.BudgetUSD, err = recordedAccount(ctx, st)
	}
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return &offline{Batch: b, st: st}, nil
}

// recordedPrice is the price a run recorded in the state file at first
// use; nil when none was (no price known, or a state file written before
// prices were recorded).
func recordedPrice(ctx context.Context, st *store.Store) (*money.Pricer, error) {
	raw, err := st.Meta(ctx, money.PriceMetaKey)
	if err != nil || raw == "" {
		return nil, err
	}
	p, err := money.ParseRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", st.Path(), err)
	}
	return &p, nil
}

// recordedAccount is the manifest's rows and the budget the last run
// recorded in the state file; 0 for those it did not (a state file of an
// older version, or no budget).
func recordedAccount(ctx context.Context, st *store.Store) (rows int, budget account.USD, err error) {
	raw, err := st.Meta(ctx, account.RowsMetaKey)
	if err != nil {
		return 0, 0, err
	}
	if raw != "" {
		if rows, err = strconv.Atoi(raw); err != nil || rows < 0 {
			return 0, 0, fmt.Errorf("state file %s: %s %q is not a number of rows", st.Path(), account.RowsMetaKey, raw)
		}
	}
	if raw, err = st.Meta(ctx, account.BudgetMetaKey); err != nil || raw == "" {
		return rows, 0, err
	}
	usd, perr := strconv.ParseFloat(raw, 64)
	if perr != nil || !(usd >= 0) {
		return 0, 0, fmt.Errorf("state file %s: %s %q is not a number of dollars", st.Path(), account.BudgetMetaKey, raw)
	}
	return rows, account.Dollars(usd), nil
}

// offline is a Batch over a state file this process opened.
type offline struct {
	*Batch
	st *store.Store
}

func (o *offline) IsLive() bool { return false }
func (o *offline) Close() error { return o.st.Close() }

// StateFiles returns the state files in dir: the unsharded one
// (.pikabatch.db) and every shard's (.pikabatch-K-of-N.db), sorted.
func StateFiles(dir string) ([]string, error) {
	names, err := shard.StateFiles(dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(names))
	for i, name := range names {
		out[i] = filepath.Join(dir, name)
	}
	return out, nil
}
