package bucket_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pikabatch/pikabatch/runner/bucket/fakes3"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/pikabatch/pikabatch/runner/bucket"
)

// TestPutRefusedWhenBodyIsNotItsDigest: an S3 upload is signed with its
// source's SHA-256, so a server that checks signatures refuses a body
// that is not that digest, and no object appears.
func TestPutRefusedWhenBodyIsNotItsDigest(t *testing.T) {
	_, c := realS3(t, "renders")
	ctx := t.Context()
	src := memSource([]byte("the video as it is now"), "video/mp4")
	src.SHA256 = digest([]byte("the video as it was saved"))
	l := mustParse(t, "s3://renders/b/clip.mp4")
	require.Error(t, c.Put(ctx, l, src))
	_, err := c.Stat(ctx, l)
	assert.ErrorIs(t, err, bucket.ErrNotFound)

	require.NoError(t, c.Put(ctx, l, memSource([]byte("the video as it is now"), "video/mp4")))
}

// TestPutsKeepTheirConnections: as many uploads at once as the client
// was sized for keep their connections between rounds, rather than
// dialing anew (the SDK's own transport keeps 10 to a host).
func TestPutsKeepTheirConnections(t *testing.T) {
	const conns = 24
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("renders"))
	s3h := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	var (
		mu      sync.Mutex
		arrived int
		all     = make(chan struct{})
	)
	round := func() { mu.Lock(); arrived = 0; all = make(chan struct{}); mu.Unlock() }
	// Each PUT waits until every upload of the round has arrived: all of
	// them are in flight at once, each on its own connection.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			arrived++
			ch := all
			if arrived == conns {
				close(all)
			}
			mu.Unlock()
			select {
			case <-ch:
			case <-r.Context().Done():
				return
			}
		}
		s3h.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(h)
	var dials atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	fakes3.SetEnv(t)
	prefix, err := bucket.Parse("s3://renders/?region=us-east-1&use_path_style=true&disable_https=true&endpoint=" + srv.URL)
	require.NoError(t, err)
	c := bucket.New(bucket.Config{Conns: conns})
	t.Cleanup(func() { _ = c.Close() })

	putAll := func(r int) {
		var g errgroup.Group
		for i := range conns {
			g.Go(func() error {
				return c.Put(t.Context(), prefix.Join(fmt.Sprintf("r%d/%d.mp4", r, i)), source([]byte(strings.Repeat("v", 100))))
			})
		}
		require.NoError(t, g.Wait())
	}
	putAll(0)
	first := dials.Load()
	assert.Equal(t, int64(conns), first)
	round()
	putAll(1)
	assert.Equal(t, first, dials.Load(), "the second round dialed anew")
}
