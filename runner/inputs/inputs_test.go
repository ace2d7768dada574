package inputs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pikabatch/pikabatch/runner/bucket/fakes3"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"golang.org/x/sync/errgroup"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/inputs"
	"github.com/pikabatch/pikabatch/store"
)

// fakeS3 starts an in-process S3 (gofakes3) on loopback with one bucket
// and returns the s3:// URL of prefix in it. The SDK is kept from every
// file and host it would otherwise ask.
func fakeS3(t *testing.T, name, prefix string) string {
	t.Helper()
	return fakes3.Start(t, nil, name).Prefix(name, prefix)
}

// localRef writes p at rel under dir and returns the row's record of it.
func localRef(t *testing.T, dir, rel string, p []byte) manifest.LocalRef {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, p, 0o600))
	sum := sha256.Sum256(p)
	return manifest.LocalRef{Path: rel, SHA256: hex.EncodeToString(sum[:])}
}

// fakePresigner signs with a fixed token and records each TTL asked.
type fakePresigner struct {
	mu   sync.Mutex
	ttls []time.Duration
}

func (p *fakePresigner) Presign(_ context.Context, l bucket.Location, ttl time.Duration) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ttls = append(p.ttls, ttl)
	return "https://" + l.Bucket + ".example.com/" + l.Key + "?X-Amz-Signature=secret&X-Amz-Expires=" + ttl.String(), nil
}

// fakeAPI records the bodies it is sent and asks the send gate first.
type fakeAPI struct {
	inputs.API
	gateCalls atomic.Int64
	mu        sync.Mutex
	sent      []string
}

func (f *fakeAPI) Submit(_ context.Context, _ string, input any, opts api.SubmitOptions) (api.SubmitResponse, error) {
	if opts.SendGate != nil {
		f.gateCalls.Add(1)
		if err := opts.SendGate(); err != nil {
			return api.SubmitResponse{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, string(input.(json.RawMessage)))
	return api.SubmitResponse{RequestID: "req"}, nil
}

// TestPresignBucketInputsAtSubmit: a bucket URL in a file field is sent
// as a pre-signed URL made at the send, valid for the TTL asked; the rest
// of the body keeps its bytes and order, the recorded body is not
// touched, and the send gate is passed on.
func TestPresignBucketInputsAtSubmit(t *testing.T) {
	t.Parallel()
	p := &fakePresigner{}
	s, err := inputs.New(inputs.Config{Fields: []string{"image"}, Presigner: p, PresignTTL: 2 * time.Hour})
	require.NoError(t, err)
	next := &fakeAPI{}
	a := s.API(next)

	orig := `{"promptText":"a & b s3://x/y","image":"s3://in/cats/a.png?region=eu-west-1","seed":1.50}`
	body := json.RawMessage(orig)
	gated := 0
	_, err = a.Submit(t.Context(), "m", body, api.SubmitOptions{SendGate: func() error { gated++; return nil }})
	require.NoError(t, err)
	_, err = a.Submit(t.Context(), "m", body, api.SubmitOptions{})
	require.NoError(t, err)

	assert.Equal(t, 1, gated, "the gate is the runner's, passed on")
	assert.Equal(t, orig, string(body), "the recorded body is not changed")
	require.Len(t, next.sent, 2)
	assert.Equal(t, `{"promptText":"a & b s3://x/y","image":"https://in.example.com/cats/a.png?X-Amz-Signature=secret&X-Amz-Expires=2h0m0s","seed":1.50}`, next.sent[0])
	assert.Equal(t, []time.Duration{2 * time.Hour, 2 * time.Hour}, p.ttls, "signed afresh for each send")
	assert.Equal(t, int64(2), s.Stats().Presigned)

	plain := json.RawMessage(`{"image":"https://img.example.com/a.png","promptText":"x"}`)
	got, err := s.Prepare(t.Context(), plain)
	require.NoError(t, err)
	assert.Equal(t, &plain[0], &got[0], "a body of https URLs goes on as it is")

	d, err := inputs.New(inputs.Config{Presigner: p})
	require.NoError(t, err)
	got, err = d.Prepare(t.Context(), json.RawMessage(`{"image":"gs://b/k.png"}`))
	require.NoError(t, err)
	assert.Contains(t, string(got), "X-Amz-Expires=24h0m0s", "the default TTL is a day")
}

// TestStageUploadsEachFileOnce: rows sharing a local file, sent at once,
// upload it once, content-addressed under the prefix; the API gets a
// pre-signed URL that fetches the file; a resumed run finds the record,
// looks the object up once and uploads nothing, even with the file gone
// from the disk; a new state finds the object in the bucket and does not
// upload it again; an object deleted from the bucket is uploaded again.
// The state holds no signature and no bytes of the file.
func TestStageUploadsEachFileOnce(t *testing.T) {
	prefix := fakeS3(t, "in", "staged/")
	dir := t.TempDir()
	content := bytes.Repeat([]byte("png!"), 1000)
	ref := localRef(t, dir, "images/a.PNG", content)
	st, err := store.Open(filepath.Join(dir, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	client := bucket.NewClient()
	t.Cleanup(func() { _ = client.Close() })
	up := &countingUploader{Uploader: client}

	newSender := func(rec inputs.Records) *inputs.Sender {
		s, err := inputs.New(inputs.Config{Dir: dir, Send: manifest.FilesStaged, StageTo: prefix,
			Presigner: client, Uploader: up, Records: rec})
		require.NoError(t, err)
		return s
	}
	s := newSender(st)
	next := &fakeAPI{}
	body := json.RawMessage(`{"image":` + quoteJSON(ref.String()) + `}`)
	var g errgroup.Group
	for range 4 {
		g.Go(func() error {
			_, err := s.API(next).Submit(t.Context(), "m", body, api.SubmitOptions{})
			return err
		})
	}
	require.NoError(t, g.Wait())
	assert.Equal(t, int64(1), s.Stats().Uploaded, "one upload for four rows")
	assert.Equal(t, int64(1), up.uploads.Load())

	var sent struct{ Image string }
	require.NoError(t, json.Unmarshal([]byte(next.sent[0]), &sent))
	assert.Contains(t, sent.Image, "/in/staged/"+ref.SHA256+".png?")
	assert.Contains(t, sent.Image, "X-Amz-Signature=")
	resp, err := http.Get(sent.Image)
	require.NoError(t, err)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, content, got, "the API fetches the file through the signed URL")

	// A resumed run: the file recorded staged is looked up once, not sent,
	// and not even read (it may be gone from the disk).
	require.NoError(t, os.Rename(filepath.Join(dir, "images/a.PNG"), filepath.Join(dir, "moved.png")))
	stats := up.stats.Load()
	resumed := newSender(st)
	for range 2 {
		_, err = resumed.Prepare(t.Context(), body)
		require.NoError(t, err)
	}
	assert.Equal(t, inputs.Stats{Reused: 2, Presigned: 2}, resumed.Stats())
	assert.Equal(t, stats+1, up.stats.Load(), "one look-up in the bucket for the run")
	assert.Equal(t, int64(1), up.uploads.Load())
	require.NoError(t, os.Rename(filepath.Join(dir, "moved.png"), filepath.Join(dir, "images/a.PNG")))

	// A state that never recorded it finds the object of that name and size.
	fresh := newSender(nil)
	_, err = fresh.Prepare(t.Context(), body)
	require.NoError(t, err)
	assert.Equal(t, int64(0), fresh.Stats().Uploaded, "an object of that name and size is there")
	assert.Equal(t, int64(1), up.uploads.Load())

	// An object gone from the bucket since it was recorded (a lifecycle
	// rule) is uploaded again rather than sent to the API as a dead link.
	loc, err := bucket.Parse(prefix)
	require.NoError(t, err)
	require.NoError(t, deleteObject(t, loc.Join(ref.SHA256+".png")))
	again := newSender(st)
	_, err = again.Prepare(t.Context(), body)
	require.NoError(t, err)
	assert.Equal(t, int64(1), again.Stats().Uploaded)
	_, err = client.Stat(t.Context(), loc.Join(ref.SHA256+".png"))
	require.NoError(t, err)

	require.NoError(t, st.Close())
	raw, err := os.ReadFile(filepath.Join(dir, ".pikabatch.db"))
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "X-Amz-Signature")
	assert.NotContains(t, string(raw), "png!png!")
	assert.Contains(t, string(raw), ref.SHA256)
}

// deleteObject removes an object behind the client's back, as a bucket's
// lifecycle rule would.
func deleteObject(t *testing.T, l bucket.Location) error {
	t.Helper()
	b, err := blob.OpenBucket(t.Context(), "s3://"+l.Bucket+"?"+l.Options)
	if err != nil {
		return err
	}
	defer b.Close()
	return b.Delete(t.Context(), l.Key)
}

// countingUploader counts the bucket calls made through it.
type countingUploader struct {
	inputs.Uploader
	stats, uploads atomic.Int64
}

func (c *countingUploader) Stat(ctx context.Context, l bucket.Location) (bucket.Attrs, error) {
	c.stats.Add(1)
	return c.Uploader.Stat(ctx, l)
}

func (c *countingUploader) Upload(ctx context.Context, l bucket.Location, src bucket.Source) (bool, error) {
	c.uploads.Add(1)
	return c.Uploader.Upload(ctx, l, src)
}

// TestEditedFileIsNotSent: a local file edited after the manifest was
// read is neither uploaded nor inlined, and the row fails unpaid; a
// missing one likewise.
func TestEditedFileIsNotSent(t *testing.T) {
	prefix := fakeS3(t, "in", "staged")
	dir := t.TempDir()
	ref := localRef(t, dir, "a.png", []byte("the original"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.png"), []byte("edited later"), 0o600))
	gone := manifest.LocalRef{Path: "gone.png", SHA256: ref.SHA256}
	client := bucket.NewClient()
	t.Cleanup(func() { _ = client.Close() })

	for _, send := range []manifest.FileSend{manifest.FilesStaged, manifest.FilesInline} {
		s, err := inputs.New(inputs.Config{Dir: dir, Send: send, StageTo: prefix, Presigner: client, Uploader: client})
		require.NoError(t, err)
		next := &fakeAPI{}
		_, err = s.API(next).Submit(t.Context(), "m", json.RawMessage(`{"image":`+quoteJSON(ref.String())+`}`), api.SubmitOptions{})
		require.ErrorIs(t, err, inputs.ErrFileChanged)
		assert.ErrorIs(t, err, api.ErrRejected, "the row fails; nothing was sent")
		_, err = s.API(next).Submit(t.Context(), "m", json.RawMessage(`{"image":`+quoteJSON(gone.String())+`}`), api.SubmitOptions{})
		require.ErrorIs(t, err, inputs.ErrFileMissing)
		assert.Empty(t, next.sent)
		assert.Zero(t, next.gateCalls.Load(), "the gate is not asked for a body that is not sent")
	}
	loc, err := bucket.Parse(prefix)
	require.NoError(t, err)
	_, err = client.Stat(t.Context(), loc.Join(ref.SHA256+".png"))
	assert.ErrorIs(t, err, bucket.ErrNotFound, "an aborted upload leaves no object")
}

// TestInlineSendsADataURI: with inline, a local file goes in the body as
// a data: URI of its media type.
func TestInlineSendsADataURI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 100)...)
	ref := localRef(t, dir, "in/a.png", png)
	s, err := inputs.New(inputs.Config{Dir: dir, Send: manifest.FilesInline})
	require.NoError(t, err)
	got, err := s.Prepare(t.Context(), json.RawMessage(`{"image":`+quoteJSON(ref.String())+`,"seed":3}`))
	require.NoError(t, err)
	var sent struct {
		Image string
		Seed  int
	}
	require.NoError(t, json.Unmarshal(got, &sent))
	data, ok := strings.CutPrefix(sent.Image, "data:image/png;base64,")
	require.True(t, ok, sent.Image[:32])
	raw, err := base64.StdEncoding.DecodeString(data)
	require.NoError(t, err)
	assert.Equal(t, png, raw)
	assert.Equal(t, 3, sent.Seed)
	assert.Equal(t, int64(1), s.Stats().Inlined)

	refused, err := inputs.New(inputs.Config{Dir: dir})
	require.NoError(t, err)
	_, err = refused.Prepare(t.Context(), json.RawMessage(`{"image":`+quoteJSON(ref.String())+`}`))
	require.ErrorContains(t, err, "give the same flag again", "a recorded local file without a way to send it")
}

// quoteJSON writes s as a JSON string.
func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// echoAPI fails every submit and job quoting its input back, as an API
// might.
type echoAPI struct{ inputs.API }

func (echoAPI) Submit(_ context.Context, _ string, input any, _ api.SubmitOptions) (api.SubmitResponse, error) {
	return api.SubmitResponse{}, fmt.Errorf("submit: %w", &api.StatusError{Code: 422, Message: "cannot fetch " + string(input.(json.RawMessage))})
}

func (echoAPI) Result(context.Context, string) (api.Result, error) {
	return api.Result{Status: api.StatusFailed, Error: "fetch https://b.example.com/k.png?X-Amz-Signature=secret failed; data:image/png;base64,iVBORw0KGgoAAAA"}, nil
}

// TestAPIMessagesKeepNoSignatureOrBytes: an API that quotes its input in
// an error gets neither the signature nor the file's bytes into the
// row's recorded error, and the error still says what it is.
func TestAPIMessagesKeepNoSignatureOrBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ref := localRef(t, dir, "a.png", []byte("\x89PNG\r\n\x1a\nsecret-bytes"))
	for _, tt := range []struct {
		send  manifest.FileSend
		image string
	}{{manifest.FilesInline, ref.String()}, {manifest.FilesRefused, "s3://b/k.png"}} {
		s, err := inputs.New(inputs.Config{Dir: dir, Send: tt.send, Presigner: &fakePresigner{}})
		require.NoError(t, err)
		a := s.API(echoAPI{})
		_, err = a.Submit(t.Context(), "m", json.RawMessage(`{"image":`+quoteJSON(tt.image)+`}`), api.SubmitOptions{})
		require.ErrorIs(t, err, api.ErrRejected)
		var se *api.StatusError
		require.ErrorAs(t, err, &se)
		for _, text := range []string{err.Error(), se.Message} {
			assert.NotContains(t, text, "secret")
			assert.NotContains(t, text, base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\nsecret-bytes")))
			assert.Contains(t, text, "cannot fetch")
		}
		res, err := a.Result(t.Context(), "req")
		require.NoError(t, err)
		assert.Equal(t, "fetch https://b.example.com/k.png?X-Amz-Signature=REDACTED failed; data:image/png;base64,…", res.Error)
	}
}
