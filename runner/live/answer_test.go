package live_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

// dribbler is a control socket peer that starts a status answer and then
// keeps sending spaces, each soon enough not to look silent (every tick
// when tick is set, else as fast as it can), until the client goes away.
func dribbler(t *testing.T, sock string, tick time.Duration) {
	t.Helper()
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		space := []byte(" ")
		if tick == 0 {
			space = make([]byte, 32<<10)
			for i := range space {
				space[i] = ' '
			}
		}
		var ticks <-chan time.Time
		if tick > 0 {
			tk := time.NewTicker(tick)
			defer tk.Stop()
			ticks = tk.C
		}
		for {
			if _, err := w.Write(space); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			if ticks == nil {
				continue
			}
			select {
			case <-ticks:
			case <-r.Context().Done():
				return
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// TestStatusAnswerBounded: a peer that keeps a status answer going, a
// space at a time but never silent for long, or as a flood, cannot keep
// status waiting: the whole answer is bounded in time and in size, and
// the peer counts as not answering.
func TestStatusAnswerBounded(t *testing.T) {
	t.Parallel()
	for name, tick := range map[string]time.Duration{"dribble": time.Millisecond, "flood": 0} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			state := filepath.Join(dir, ".pikabatch.db")
			st, err := store.Open(state, store.Options{Owner: store.CurrentOwner("test")})
			require.NoError(t, err)
			require.NoError(t, st.Close())
			dribbler(t, live.SocketPath(state), tick)

			// The test's own bound, far above the client's: before the
			// whole answer was bounded, only this ended the wait.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			src, err := live.Open(ctx, state, live.OpenOptions{AnswerTimeout: 3 * time.Second})
			require.NoError(t, err)
			defer src.Close()
			require.True(t, src.IsLive())
			_, err = src.Status(ctx)
			require.ErrorIs(t, err, live.ErrNotAnswering)
			assert.NoError(t, ctx.Err())
		})
	}
}
