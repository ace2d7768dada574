package live

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// Paths of the control protocol: HTTP/1.1 over the unix socket.
const (
	pathStatus = "/v1/status"
	pathCancel = "/v1/cancel"
	pathExport = "/v1/export"

	// trailerError carries an error met after an export began streaming.
	trailerError = "X-Pikabatch-Error"
)

// maxSockPath is the longest socket path every supported OS accepts
// (sun_path is 104 bytes on macOS and the BSDs, 108 on Linux, with a NUL).
const maxSockPath = 103

// shutdownGrace is how long Close lets an answer in progress finish.
const shutdownGrace = 2 * time.Second

// SocketPath returns the control socket of the state file at statePath:
// the full file name with ".sock" added (out/.pikabatch.db.sock for
// out/.pikabatch.db), so that two state files never share a socket
// (a.db and a.json once both served on a.sock, and a cancel meant for one
// batch reached the other's run) and the socket is never the state file
// itself (--state x.sock once had its state deleted when the socket was
// bound). When that name is too long for a unix socket address, it is
// shortened to a hash of the state file's name, in the same folder.
func SocketPath(statePath string) string {
	sock := statePath + ".sock"
	abs, err := filepath.Abs(sock)
	if err != nil {
		abs = sock
	}
	// Judged on the absolute path, so that a run given a relative name and
	// a status given an absolute one pick the same socket.
	if len(abs) > maxSockPath {
		sum := sha256.Sum256([]byte(filepath.Base(statePath)))
		sock = filepath.Join(filepath.Dir(statePath), ".pikabatch-"+hex.EncodeToString(sum[:8])+".sock")
	}
	if sock == statePath {
		sock += ".sock"
	}
	return sock
}

// sockAddr returns a form of path short enough to bind or dial: the path
// itself, or the same file relative to the working folder.
func sockAddr(path string) (string, error) {
	if len(path) <= maxSockPath {
		return path, nil
	}
	if wd, err := os.Getwd(); err == nil {
		abs, _ := filepath.Abs(path)
		if rel, err := filepath.Rel(wd, abs); err == nil && len(rel) <= maxSockPath {
			return rel, nil
		}
	}
	return "", fmt.Errorf("control socket path %s is longer than %d bytes", path, maxSockPath)
}

// Server serves a Batch on a control socket.
type Server struct {
	path  string
	srv   *http.Server
	done  chan struct{}
	once  sync.Once
	err   error
	grace time.Duration // how long Close lets answers in progress finish
	// keepalive is how often a long answer (a cancel of many jobs, each an
	// API call) sends a space while it works, so that the asking side,
	// which gives up on a run silent for DefaultAnswerTimeout, can tell a
	// busy run from a stopped one. JSON allows the space before the value.
	keepalive time.Duration

	// Cancels are carried out even if the asking process goes away (a job
	// cancelled on the API must be recorded), so they run under base, not
	// the request's context; Close ends base once the grace is over and
	// waits for them: no cancel writes to the store after Close.
	base     context.Context
	stopBase context.CancelFunc
	mu       sync.Mutex
	closed   bool
	work     sync.WaitGroup
}

// Listen serves b on the unix socket at path (see SocketPath). The caller
// must hold the state file's lock: a file already at path is then known
// to be left by a run that died, and is replaced.
func Listen(path string, b *Batch) (*Server, error) {
	addr, err := sockAddr(path)
	if err != nil {
		return nil, err
	}
	if err := removeStaleSocket(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Whoever may cancel jobs must be able to write the state anyway.
	if err := os.Chmod(addr, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &Server{path: path, done: make(chan struct{}), grace: shutdownGrace, keepalive: DefaultAnswerTimeout / 4}
	s.base, s.stopBase = context.WithCancel(context.Background())
	h := &handler{b: b, s: s}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathStatus, h.status)
	mux.HandleFunc("POST "+pathCancel, h.cancel)
	mux.HandleFunc("GET "+pathExport, h.export)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(b.log().Handler(), slog.LevelDebug)}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns ErrServerClosed after Close
	}()
	return s, nil
}

// removeStaleSocket removes a socket left at addr by a run that died. It
// never removes anything but a socket: whatever else sits there (a state
// file given a socket's name, say) is someone's data.
func removeStaleSocket(addr string) error {
	fi, err := os.Lstat(addr)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("control socket %s: the path exists and is not a socket; left alone", addr)
	}
	if err := os.Remove(addr); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale control socket: %w", err)
	}
	return nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops accepting requests, lets an answer in progress finish for a
// moment, removes the socket and waits for the server to stop. It is safe
// to call more than once and on a nil Server.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true // no cancel starts from now on
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), s.grace)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.err = s.srv.Close()
		}
		<-s.done
		// Cancels still going stop calling the API; what the API accepted
		// is recorded before they return.
		s.stopBase()
		s.work.Wait()
	})
	return s.err
}

// startWork registers a cancel; false once Close began.
func (s *Server) startWork() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.work.Add(1)
	return true
}

type handler struct {
	b *Batch
	s *Server
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.b.Status(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, st)
}

type cancelRequest struct {
	Keys []string `json:"keys"`
}

type cancelResponse struct {
	Report CancelReport `json:"report"`
	Error  string       `json:"error,omitempty"`
	Kind   string       `json:"kind,omitempty"` // see errorKind
}

func (h *handler) cancel(w http.ResponseWriter, r *http.Request) {
	var req cancelRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(&req); err != nil {
		http.Error(w, "bad cancel request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !h.s.startWork() {
		http.Error(w, "the run is stopping", http.StatusServiceUnavailable)
		return
	}
	defer h.s.work.Done()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	// The cancel is carried out even if the asking process goes away:
	// a job cancelled on the API must be recorded (see Server.base).
	var resp cancelResponse
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep, err := h.b.Cancel(h.s.base, req.Keys)
		resp.Report = rep
		if err != nil {
			resp.Error, resp.Kind = err.Error(), errorKind(err)
		}
	}()
	tick := time.NewTicker(h.s.keepalive)
	defer tick.Stop()
	for {
		select {
		case <-done:
			_ = json.NewEncoder(w).Encode(resp)
			return
		case <-tick.C:
			_, _ = w.Write([]byte(" "))
			_ = rc.Flush()
		}
	}
}

func (h *handler) export(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Trailer", trailerError)
	enc := json.NewEncoder(w)
	err := h.b.Export(r.Context(), func(e results.Entry) error { return enc.Encode(e) })
	if err != nil {
		w.Header().Set(trailerError, strings.ReplaceAll(err.Error(), "\n", " "))
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Error kinds carried over the socket, so that the asking process maps a
// live run's error to the same exit code as its own would be.
var kinds = []struct {
	name string
	err  error
}{
	{"unauthorized", api.ErrUnauthorized},
	{"payment_required", api.ErrPaymentRequired},
	{"unavailable", api.ErrUnavailable},
	{"no_api", ErrNoAPI},
	{"unknown_model", api.ErrUnknownModel},
	{"permission_denied", api.ErrPermissionDenied},
	{"binding", store.ErrBinding},
}

func errorKind(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "other"
}

func kindError(kind, msg string) error {
	for _, k := range kinds {
		if k.name == kind {
			return fmt.Errorf("live run: %s: %w", msg, k.err)
		}
	}
	return fmt.Errorf("live run: %s", msg)
}
