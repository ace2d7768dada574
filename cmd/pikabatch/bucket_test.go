package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/runner/verify"
	"github.com/pikabatch/pikabatch/store"
)

// fakeBucket is an in-process S3 on loopback with one bucket, "renders".
type fakeBucket struct {
	backend *s3mem.Backend
	srv     *httptest.Server
	// answers is how many more requests it answers before it drops every
	// connection, as a bucket that goes away does; negative: all.
	answers atomic.Int64
}

// startBucket starts a fake S3 and points the AWS SDK at nothing else.
func startBucket(t *testing.T) *fakeBucket {
	t.Helper()
	b := &fakeBucket{backend: s3mem.New()}
	require.NoError(t, b.backend.CreateBucket("renders"))
	b.answers.Store(-1)
	s3 := gofakes3.New(b.backend).Server()
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.answers.Load() >= 0 && b.answers.Add(-1) < 0 {
			b.answers.Store(0)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
			return
		}
		s3.ServeHTTP(w, r)
	}))
	t.Cleanup(b.srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "fake")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return b
}

// url is the s3:// URL of prefix in the fake bucket.
func (b *fakeBucket) url(prefix string) string {
	return "s3://renders/" + prefix + "?region=us-east-1&use_path_style=true&disable_https=true&endpoint=" + b.srv.URL
}

// syncFolder copies the done files of the state file at statePath to the
// prefix at to, as a run with --sync-to does.
func syncFolder(t *testing.T, statePath, to string, extras ...string) bucketsync.Report {
	t.Helper()
	loc, err := bucket.Parse(to)
	require.NoError(t, err)
	st, err := store.Open(statePath, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	client := bucket.NewClient()
	defer client.Close()
	s, err := bucketsync.New(bucketsync.Config{To: loc, Dir: filepath.Dir(statePath)}, client, st)
	require.NoError(t, err)
	s.Start(t.Context())
	rep, err := s.Finish(t.Context(), extras...)
	require.NoError(t, err)
	return rep
}

// TestVerifyChecksBucketCopies: verify reports a copy gone from the
// bucket, queues it, and the next sync uploads it again; the local files
// are checked as before.
func TestVerifyChecksBucketCopies(t *testing.T) {
	srv := startSim(t, sim.Config{})
	bk := startBucket(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, stderr)
	state := filepath.Join(out, ".pikabatch.db")
	assert.Equal(t, 3, syncFolder(t, state, bk.url("b1")).Uploaded)

	code, stdout, stderr := invoke(t, nil, "verify", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "checked 3 bucket copies in s3://renders/b1")

	_, err := bk.backend.DeleteObject("renders", "b1/b.mp4")
	require.NoError(t, err)
	code, stdout, stderr = invoke(t, nil, "verify", "--out", out, "--json")
	assert.Equal(t, exitFailedRows, code, stderr)
	var rep verifyJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Empty(t, rep.Findings, "the local files are fine")
	require.Len(t, rep.BucketCopies, 1)
	c := rep.BucketCopies[0]
	assert.Equal(t, 3, c.Copies)
	assert.Equal(t, 2, c.OK)
	assert.Equal(t, 1, c.Waiting, "queued for the next run")
	require.Len(t, c.Findings, 1)
	assert.Equal(t, verify.Finding{Key: "s3://renders/b1/b.mp4", Path: "b.mp4", Problem: verify.Missing,
		Detail: "not in the bucket; the next run uploads it again"}, c.Findings[0])
	assert.Contains(t, stderr, "run the batch again")
	assert.FileExists(t, filepath.Join(out, "b.mp4"))

	assert.Equal(t, 1, syncFolder(t, state, bk.url("b1")).Uploaded)
	code, stdout, stderr = invoke(t, nil, "verify", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "checked 3 bucket copies in s3://renders/b1")
	assert.NotContains(t, stdout, "wait")
}

// TestStatusAndExportFromBucket: two shards render on machines sharing
// no folder and copy to one prefix; status and export read the batch
// from the bucket alone, merged.
func TestStatusAndExportFromBucket(t *testing.T) {
	srv := startSim(t, sim.Config{})
	bk := startBucket(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	for k := range 2 {
		out := filepath.Join(dir, fmt.Sprintf("machine%d", k))
		code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out, "--shard", fmt.Sprintf("%d/2", k))
		require.Equal(t, exitOK, code, stderr)
		index := fmt.Sprintf("results-%d-of-2.jsonl", k)
		syncFolder(t, filepath.Join(out, fmt.Sprintf(".pikabatch-%d-of-2.db", k)), bk.url("b1"), index)
	}
	from := bk.url("b1")

	code, stdout, stderr := invoke(t, nil, "status", "--from", from)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "all 2 indexes: rows 3: 3 done, 0 failed")
	assert.Contains(t, stdout, "s3://renders/b1/results-0-of-2.jsonl")

	code, stdout, stderr = invoke(t, nil, "status", "--from", from, "--json")
	require.Equal(t, exitOK, code, stderr)
	var st statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &st))
	assert.Equal(t, 3, st.Jobs)
	assert.Equal(t, 3, st.Account.Done)
	assert.Len(t, st.Indexes, 2)

	code, stdout, stderr = invoke(t, nil, "export", "--from", from)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, 3, strings.Count(stdout, "\n"), stdout)
	for _, k := range []string{`"key":"a"`, `"key":"b"`, `"key":"c"`} {
		assert.Contains(t, stdout, k)
	}

	meta := filepath.Join(dir, "metadata.jsonl")
	code, _, stderr = invoke(t, nil, "export", "--from", from, "--format", "hf", "-o", meta)
	require.Equal(t, exitOK, code, stderr)
	b, err := os.ReadFile(meta)
	require.NoError(t, err)
	assert.Contains(t, string(b), `{"file_name":"a.mp4"`, "file names relative to the prefix")
	assert.Equal(t, 3, strings.Count(string(b), "\n"))

	pq := filepath.Join(dir, "all.parquet")
	code, _, stderr = invoke(t, nil, "export", "--from", from, "-o", pq)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "exported 3 jobs from 2 index(es)")

	code, _, stderr = invoke(t, nil, "status", "--from", from, "--out", dir)
	assert.Equal(t, exitUsage, code, stderr)
	code, _, stderr = invoke(t, nil, "export", "--from", bk.url("nothing-here"))
	assert.NotEqual(t, exitOK, code)
	assert.Contains(t, stderr, "no results.jsonl")
	assert.NotContains(t, stdout+stderr, "fake-secret")
}

// downURL is an s3:// URL of a bucket that cannot be reached: its
// endpoint is a loopback port nobody listens on.
func downURL(t *testing.T, prefix string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "s3://renders/" + prefix + "?region=us-east-1&use_path_style=true&disable_https=true&endpoint=http://" + addr
}

// TestRunSyncsToABucket: a run copies every video, the index and the
// dataset metadata to the prefix; a second run sends nothing; a bucket
// that cannot be reached keeps every local file, exits 75 and costs no
// submit, and the next run with the bucket back copies what waited.
func TestRunSyncsToABucket(t *testing.T) {
	srv := startSim(t, sim.Config{})
	bk := startBucket(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	env := tokenEnv(srv.APIURL)
	objects := func(prefix string) []string {
		t.Helper()
		res, err := bk.backend.ListBucket("renders", &gofakes3.Prefix{HasPrefix: true, Prefix: prefix}, gofakes3.ListBucketPage{})
		require.NoError(t, err)
		var keys []string
		for _, c := range res.Contents {
			keys = append(keys, c.Key)
		}
		return keys
	}

	t.Run("a --sync-to that is no bucket URL", func(t *testing.T) {
		code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--sync-to", "https://renders.example.com/b1")
		assert.Equal(t, exitUsage, code, stderr)
		assert.Contains(t, stderr, "--sync-to")
		assert.Zero(t, srv.Counters().Submits)
	})

	t.Run("a new batch whose bucket cannot be asked", func(t *testing.T) {
		code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--sync-to", downURL(t, "b1"))
		assert.Equal(t, exitTempFail, code, stderr)
		assert.Contains(t, stderr, "the bucket could not say whether runs of this batch copied their index there")
		assert.Zero(t, srv.Counters().Submits, "a state lost with the bucket down must not cost a second payment")
		assert.NoFileExists(t, filepath.Join(out, ".pikabatch.db"))
	})

	t.Run("a bucket that goes away during the run", func(t *testing.T) {
		bk.answers.Store(1) // the look for an earlier run's index, then nothing
		defer bk.answers.Store(-1)
		code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--sync-to", bk.url("b1"), "--json")
		assert.Equal(t, exitTempFail, code, stderr)
		assert.Contains(t, stderr, "files not copied to the bucket; the next run copies them")
		var sum runJSON
		require.NoError(t, json.Unmarshal([]byte(stdout), &sum))
		require.NotNil(t, sum.Copies)
		assert.Equal(t, 5, sum.Copies.Waiting, "three videos, the index and the metadata")
		assert.Equal(t, 3, sum.Final[store.StateDone], "the batch itself is done")
		for _, k := range []string{"a", "b", "c"} {
			assert.FileExists(t, filepath.Join(out, k+".mp4"))
		}
		assert.FileExists(t, filepath.Join(out, "metadata.jsonl"))
	})
	submits := srv.Counters().Submits
	require.EqualValues(t, 3, submits)

	t.Run("the next run copies what waited", func(t *testing.T) {
		code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--sync-to", bk.url("b1"))
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, stdout, "copied to s3://renders/b1")
		assert.Contains(t, stdout, "5 files sent")
		assert.Equal(t, submits, srv.Counters().Submits, "zero submits")
		assert.ElementsMatch(t, []string{"b1/a.mp4", "b1/b.mp4", "b1/c.mp4", "b1/metadata.jsonl", "b1/results.jsonl"}, objects("b1/"))
	})

	t.Run("a run with nothing new sends nothing", func(t *testing.T) {
		code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--sync-to", bk.url("b1"), "--json")
		require.Equal(t, exitOK, code, stderr)
		var sum runJSON
		require.NoError(t, json.Unmarshal([]byte(stdout), &sum))
		require.NotNil(t, sum.Copies)
		assert.Zero(t, sum.Copies.Uploaded)
		assert.Zero(t, sum.Copies.Waiting)
		assert.Equal(t, submits, srv.Counters().Submits)
	})

	t.Run("verify and status from the bucket see it", func(t *testing.T) {
		code, stdout, stderr := invoke(t, nil, "verify", "--out", out)
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, stdout, "checked 3 bucket copies")
		code, stdout, stderr = invoke(t, nil, "status", "--from", bk.url("b1"))
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, stdout, "rows 3: 3 done")
	})

	t.Run("a state lost with its volume is rebuilt, never started afresh", func(t *testing.T) {
		require.NoError(t, os.RemoveAll(out)) // a new pod: an empty volume
		code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--sync-to", bk.url("b1"))
		assert.Equal(t, exitIOErr, code, stderr)
		assert.Contains(t, stderr, "runs of this batch copied their index to s3://renders/b1/results.jsonl")
		assert.Contains(t, stderr, "pikabatch recover --out "+out)
		assert.Equal(t, submits, srv.Counters().Submits, "nothing submitted")

		obj, err := bk.backend.GetObject("renders", "b1/results.jsonl", nil)
		require.NoError(t, err)
		index, err := io.ReadAll(obj.Contents)
		require.NoError(t, err)
		require.NoError(t, obj.Contents.Close())
		require.NoError(t, os.MkdirAll(out, 0o755))
		writeFile(t, filepath.Join(out, "results.jsonl"), string(index))
		code, _, stderr = invoke(t, env, "recover", "--out", out)
		require.Equal(t, exitOK, code, stderr)
		code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--sync-to", bk.url("b1"))
		require.Equal(t, exitOK, code, stderr)
		assert.Equal(t, submits, srv.Counters().Submits, "the renders are fetched again by request ID, not submitted")
		assert.Contains(t, stdout, "copied to s3://renders/b1")
	})

	t.Run("a fresh run straight to the bucket", func(t *testing.T) {
		out2 := filepath.Join(dir, "out2")
		code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out2, "--sync-to", bk.url("b2/"))
		require.Equal(t, exitOK, code, stderr)
		assert.Len(t, objects("b2/"), 5)
	})
}
