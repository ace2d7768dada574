package bench

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// simServer is the simulator on loopback, with the arrival time of every API
// request recorded for rate measurements.
type simServer struct {
	*sim.Server
	apiURL string

	servers [2]*http.Server
	wg      sync.WaitGroup

	mu       sync.Mutex
	arrivals []arrival // API requests, in arrival order
}

// arrival is one API request as the simulator received it.
type arrival struct {
	at     time.Time
	submit bool
}

// startSim serves a new simulator on two loopback ports: the API and, as a
// separate origin, the storage host.
func startSim(cfg sim.Config) (*simServer, error) {
	srv, err := sim.New(cfg)
	if err != nil {
		return nil, err
	}
	s := &simServer{Server: srv}
	var lns [2]net.Listener
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lns[:i] {
				_ = l.Close()
			}
			return nil, fmt.Errorf("listen: %w", err)
		}
		lns[i] = ln
	}
	s.apiURL = "http://" + lns[0].Addr().String()
	srv.SetFilesBase("http://" + lns[1].Addr().String())
	handlers := [2]http.Handler{s.record(srv.APIHandler()), srv.FilesHandler()}
	for i := range s.servers {
		s.servers[i] = &http.Server{Handler: handlers[i], ReadHeaderTimeout: 10 * time.Second}
		s.wg.Add(1)
		go func(hs *http.Server, ln net.Listener) {
			defer s.wg.Done()
			_ = hs.Serve(ln) // ends with ErrServerClosed at close
		}(s.servers[i], lns[i])
	}
	return s, nil
}

// record notes the arrival of each API request before the simulator sees it.
func (s *simServer) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/_sim/") {
			a := arrival{at: time.Now(), submit: r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/models/")}
			s.mu.Lock()
			s.arrivals = append(s.arrivals, a)
			s.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

// requests returns the API requests so far.
func (s *simServer) requests() []arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]arrival(nil), s.arrivals...)
}

// close stops both listeners and their connections and waits for them.
func (s *simServer) close() error {
	var errs []error
	for _, hs := range s.servers {
		errs = append(errs, hs.Close())
	}
	s.wg.Wait()
	return errors.Join(errs...)
}
