package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// shutdownGrace bounds how long Close waits for requests in flight before it
// closes their connections.
const shutdownGrace = 5 * time.Second

// Running is a Server listening on real sockets: the API on APIURL and the
// storage host on FilesURL, a different port of the same host.
type Running struct {
	*Server
	// APIURL and FilesURL are the bases of the two listeners, such as
	// "http://127.0.0.1:8787". On an unspecified address (":8787") they use
	// 127.0.0.1, and result URLs use the host name each client used for the
	// API.
	APIURL, FilesURL string

	servers [2]*http.Server
	wg      sync.WaitGroup

	mu       sync.Mutex
	serveErr error

	closeOnce sync.Once
	closeErr  error
}

// Start creates a Server from cfg and runs its API on apiAddr (such as
// "127.0.0.1:0") and its files on Config.FilesAddr, by default an
// ephemeral port of the same host. It returns once both listen.
func Start(cfg Config, apiAddr string) (*Running, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	apiLn, err := net.Listen("tcp", apiAddr)
	if err != nil {
		return nil, fmt.Errorf("listen for api: %w", err)
	}
	host, apiPort, err := net.SplitHostPort(apiLn.Addr().String())
	if err != nil {
		_ = apiLn.Close()
		return nil, fmt.Errorf("listen for api: %w", err)
	}
	filesAddr := cfg.FilesAddr
	if filesAddr == "" {
		filesAddr = net.JoinHostPort(host, "0")
	}
	filesLn, err := net.Listen("tcp", filesAddr)
	if err != nil {
		_ = apiLn.Close()
		return nil, fmt.Errorf("listen for files: %w", err)
	}
	_, filesPort, _ := net.SplitHostPort(filesLn.Addr().String())

	urlHost := host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		urlHost = "127.0.0.1"
		s.setFilesPort(filesPort)
	}
	r := &Running{
		Server:   s,
		APIURL:   "http://" + net.JoinHostPort(urlHost, apiPort),
		FilesURL: "http://" + net.JoinHostPort(urlHost, filesPort),
	}
	if urlHost == host {
		s.SetFilesBase(r.FilesURL)
	}
	errLog := slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug)
	for i, srv := range []struct {
		ln net.Listener
		h  http.Handler
	}{{apiLn, s.APIHandler()}, {filesLn, s.FilesHandler()}} {
		r.servers[i] = &http.Server{
			Handler:           srv.h,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          errLog,
		}
		r.wg.Add(1)
		go func(hs *http.Server, ln net.Listener) {
			defer r.wg.Done()
			if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				r.mu.Lock()
				r.serveErr = errors.Join(r.serveErr, err)
				r.mu.Unlock()
			}
		}(r.servers[i], srv.ln)
	}
	return r, nil
}

// Close stops both listeners, lets requests in flight finish for a few
// seconds, then closes their connections and cancels the input fetches in
// flight, and returns once both servers and the fetches have stopped. It is
// safe to call more than once.
func (r *Running) Close() error {
	r.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		var errs []error
		for _, srv := range r.servers {
			if err := srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shut down simulator: %w", err), srv.Close())
			}
		}
		r.wg.Wait()
		r.Server.Close()
		r.mu.Lock()
		errs = append(errs, r.serveErr)
		r.mu.Unlock()
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}
