package runner_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
)

// fakeAPI is an in-memory Model API that answers what a test tells it
// to: the contract's sentinels, odd status words, one bad request ID. Its
// result files are served by a loopback file host.
type fakeAPI struct {
	files string // base URL of the file host

	mu      sync.Mutex
	next    int
	submits int
	// balance is how many more submits the account pays for; <0: no limit.
	balance int
	// submitErr, if set, answers the n-th submit (1-based) with an error.
	submitErr func(n int) error
	// lookErr, if set, answers a status or result call for id with an error.
	lookErr func(id string, look int) error
	// running is how many looks a job stays in progress before it completes;
	// words are answered (as unknown status words) before that.
	running int
	words   []string
	// cancelErr answers every cancel; nil accepts it.
	cancelErr error
	cancels   int
	looks     map[string]int
	cancelled map[string]bool
	// completed, if set, says whether id's render is finished (overrides running).
	completed func(id string) bool
}

var _ runner.API = (*fakeAPI)(nil)

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "video of %s", strings.TrimPrefix(r.URL.Path, "/"))
	}))
	t.Cleanup(func() {
		files.CloseClientConnections()
		files.Close()
	})
	return &fakeAPI{files: files.URL, balance: -1, running: 1, looks: map[string]int{}, cancelled: map[string]bool{}}
}

func (f *fakeAPI) Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error) {
	// As the API contract asks: the gate before the send, and no send if it refuses.
	if err := opts.SendGate(); err != nil {
		return api.SubmitResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submits++
	if f.submitErr != nil {
		if err := f.submitErr(f.submits); err != nil {
			return api.SubmitResponse{}, err
		}
	}
	if f.balance == 0 {
		return api.SubmitResponse{}, fmt.Errorf("submit: HTTP 400: error_code 400002: insufficient balance: %w", api.ErrPaymentRequired)
	}
	if f.balance > 0 {
		f.balance--
	}
	f.next++
	return api.SubmitResponse{RequestID: fmt.Sprintf("req-%d", f.next)}, nil
}

// look advances id by one look and says where it stands.
func (f *fakeAPI) look(id string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.looks[id]++
	n := f.looks[id]
	if f.lookErr != nil {
		if err := f.lookErr(id, n); err != nil {
			return "", "", err
		}
	}
	switch {
	case f.cancelled[id]:
		return api.StatusCancelled, "", nil
	case f.completed != nil:
		if f.completed(id) {
			return api.StatusCompleted, "", nil
		}
		return api.StatusInProgress, "", nil
	case n <= len(f.words):
		return api.StatusUnknown, f.words[n-1], nil
	case n <= len(f.words)+f.running:
		return api.StatusInProgress, "", nil
	}
	return api.StatusCompleted, "", nil
}

func (f *fakeAPI) Status(ctx context.Context, id string) (api.Status, error) {
	s, word, err := f.look(id)
	return api.Status{RequestID: id, Status: s, Word: word, QueuePosition: -1}, err
}

func (f *fakeAPI) Result(ctx context.Context, id string) (api.Result, error) {
	s, word, err := f.look(id)
	res := api.Result{RequestID: id, Status: s, Word: word}
	if s == api.StatusCompleted {
		res.Outputs = []string{f.files + "/" + id + ".mp4"}
	}
	return res, err
}

func (f *fakeAPI) Cancel(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels++
	if f.cancelErr != nil {
		return f.cancelErr
	}
	f.cancelled[id] = true
	return nil
}

func (f *fakeAPI) submitCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.submits
}

// setupFake is an output folder and a manifest of n rows for a fakeAPI.
func setupFake(t *testing.T, n int) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, out: filepath.Join(dir, "out"), manifest: filepath.Join(dir, "manifest.csv")}
	e.writeManifest(n, nil)
	return e
}

// runFake runs the manifest once against client, like one `pikabatch run`.
func (e *env) runFake(ctx context.Context, client runner.API, tweak func(*runner.Config)) (runner.Summary, error) {
	e.t.Helper()
	cfg := runner.Config{
		Model: "pika/pika-2-2/image-to-video", OutDir: e.out, Concurrency: 4, DownloadConcurrency: 4,
		Poll:        runner.PollConfig{Initial: time.Millisecond, Min: time.Millisecond, Max: 5 * time.Millisecond},
		Download:    runner.DownloadConfig{BackoffBase: time.Millisecond},
		OutageLimit: time.Minute,
		Logger:      testLogger(e.t),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	return e.runWith(ctx, client, cfg)
}
