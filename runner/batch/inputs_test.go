package batch_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pikabatch/pikabatch/runner/bucket/fakes3"

	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/bucket/versitygw"
	"github.com/pikabatch/pikabatch/runner/inputs"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// fakeBucket starts an in-process S3 (gofakes3) on loopback with one
// bucket and returns the s3:// URL of prefix in it, and the bucket's
// store; the SDK is kept from every file and host it would otherwise ask.
func fakeBucket(t *testing.T, name, prefix string) (string, *s3mem.Backend) {
	t.Helper()
	fake := fakes3.Start(t, nil, name)
	return fake.Prefix(name, prefix), fake.Backend
}

// localImages writes n distinct small PNGs under dir/images and returns
// their contents, each marked after its end so that its bytes can be
// looked for in the state file.
func localImages(t *testing.T, dir string, n int) [][]byte {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "images"), 0o755))
	var imgs [][]byte
	for i := range n {
		m := image.NewGray(image.Rect(0, 0, 4, 4))
		m.Pix[0] = byte(i)
		var b bytes.Buffer
		require.NoError(t, png.Encode(&b, m))
		fmt.Fprintf(&b, "IMAGE-BYTES-%d-%s", i, strings.Repeat("x", 64))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "images", fmt.Sprintf("%d.png", i)), b.Bytes(), 0o644))
		imgs = append(imgs, b.Bytes())
	}
	return imgs
}

// fetchingSim starts a simulator that fetches each job's image as the API
// does (a pre-signed URL must work; a data: URI must decode), and points
// c at it.
func fetchingSim(t *testing.T, c *batch.Config) *sim.Running {
	t.Helper()
	srv, err := sim.Start(sim.Config{Token: testToken, RunTime: 20 * time.Millisecond, Slots: 8, FetchInputs: true}, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	c.APIBase = srv.APIURL
	return srv
}

// noSecrets checks that the state file and the index hold neither a
// signature nor a byte of any image, in the clear or base64.
func noSecrets(t *testing.T, c batch.Config, statePath string, imgs [][]byte) map[string][]byte {
	t.Helper()
	state, err := os.ReadFile(statePath)
	require.NoError(t, err)
	index, err := os.ReadFile(filepath.Join(c.Out, "results.jsonl"))
	require.NoError(t, err)
	files := map[string][]byte{"state": state, "index": index}
	for name, b := range files {
		assert.NotContains(t, string(b), "X-Amz-Signature", name)
		assert.NotContains(t, string(b), "X-Amz-Credential", name)
		assert.NotContains(t, string(b), "data:image", name)
		for _, img := range imgs {
			assert.NotContains(t, string(b), "IMAGE-BYTES-", "%s holds no file bytes", name)
			assert.NotContains(t, string(b), base64.StdEncoding.EncodeToString(img)[:40], "%s holds no file bytes", name)
		}
	}
	return files
}

func digestOf(p []byte) string {
	s := sha256.Sum256(p)
	return hex.EncodeToString(s[:])
}

// TestRunStagesLocalImages: a manifest of local images, run with
// StageTo, uploads each distinct file once to the bucket, named by its
// digest, and the API gets pre-signed URLs that fetch them, as it does
// for an image given as an s3:// object; a second run uploads and submits
// nothing; the state file and the index keep the path and digest (or the
// bucket URL), never a signature or the file's bytes; an edited image is
// a new row, and only it is uploaded.
func TestRunStagesLocalImages(t *testing.T) {
	c, _ := setup(t, 1)
	srv := fetchingSim(t, &c)
	dir := filepath.Dir(c.Manifest)
	imgs := localImages(t, dir, 4)
	var backend *s3mem.Backend
	c.StageTo, backend = fakeBucket(t, "inputs", "staged/")
	_, err := backend.PutObject("inputs", "photos/3.png", map[string]string{"Content-Type": "image/png"},
		bytes.NewReader(imgs[3]), int64(len(imgs[3])), nil)
	require.NoError(t, err)
	object := strings.Replace(c.StageTo, "/staged/", "/photos/3.png", 1)
	// Rows 0 and 3 share a file, so four local rows upload three files.
	body := "image,promptText\nimages/0.png,a\nimages/1.png,b\nfile:images/2.png,c\n./images/0.png,d\n" + object + ",e\n"
	require.NoError(t, os.WriteFile(c.Manifest, []byte(body), 0o644))

	res, err := batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, 5, res.Summary.Account.Done)
	assert.Equal(t, inputs.Stats{Uploaded: 3, Reused: 1, Presigned: 5}, res.Inputs, "the shared file's second row finds it staged")
	assert.EqualValues(t, 5, srv.Counters().InputFetches, "the simulator fetched every image through its signed URL")
	assert.Zero(t, srv.Counters().InputFetchFailures)

	snap := srv.Snapshot()
	require.Len(t, snap.Jobs, 5)
	for _, j := range snap.Jobs {
		var in struct{ Image string }
		require.NoError(t, json.Unmarshal(j.Input, &in))
		assert.Contains(t, in.Image, "X-Amz-Signature=", "the API gets a pre-signed URL")
		resp, err := http.Get(in.Image)
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "the API can fetch %s", in.Image)
		if !strings.Contains(in.Image, "/photos/") {
			assert.Contains(t, in.Image, "/inputs/staged/"+digestOf(got)+".png?", "content-addressed")
		}
	}

	res, err = batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.Zero(t, res.Summary.Submitted)
	assert.Equal(t, inputs.Stats{}, res.Inputs, "a second run uploads and signs nothing")
	assert.EqualValues(t, 5, srv.Counters().Submits)

	for name, b := range noSecrets(t, c, res.StatePath, imgs) {
		want := manifest.LocalRef{Path: "images/1.png", SHA256: digestOf(imgs[1])}.String()
		assert.Contains(t, string(b), want, "%s keeps the path and digest", name)
		assert.Contains(t, string(b), "s3://inputs/photos/3.png", "%s keeps the bucket URL", name)
	}

	require.NoError(t, os.WriteFile(filepath.Join(dir, "images", "1.png"), append(imgs[1], '!'), 0o644))
	res, err = batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Summary.Submitted, "the edited image is a new row")
	assert.Equal(t, inputs.Stats{Uploaded: 1, Presigned: 1}, res.Inputs)
}

// TestRunRefusesLocalFilesWithoutAWayToSendThem: a local image without
// StageTo or Inline is a manifest error naming both, and nothing is sent;
// both at once, or a StageTo that is no bucket prefix, are ConfigErrors.
func TestRunRefusesLocalFilesWithoutAWayToSendThem(t *testing.T) {
	c, srv := setup(t, 1)
	localImages(t, filepath.Dir(c.Manifest), 1)
	require.NoError(t, os.WriteFile(c.Manifest, []byte("image\nimages/0.png\n"), 0o644))
	_, err := batch.Run(t.Context(), c)
	var ve *manifest.ValidationError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, manifest.ErrLocalFile)
	assert.Contains(t, err.Error(), "--stage-to")
	assert.Contains(t, err.Error(), "--inline")

	for _, edit := range []func(*batch.Config){
		func(c *batch.Config) { c.StageTo, c.Inline = "s3://b/p", true },
		func(c *batch.Config) { c.StageTo = "s3://b" },
		func(c *batch.Config) { c.StageTo = "https://b/p" },
		func(c *batch.Config) { c.Inline, c.PresignTTL = true, 8*24*time.Hour },
	} {
		c := c
		edit(&c)
		_, err := batch.Run(t.Context(), c)
		var ce *batch.ConfigError
		require.ErrorAs(t, err, &ce)
	}
	assert.Zero(t, srv.Counters().Submits)
}

// TestRunInlinesLocalImages: with Inline, local images go to the API as
// data: URIs, which the simulator decodes as the API would; the state
// file and the index keep the path and digest, never the bytes; a second
// run submits nothing.
func TestRunInlinesLocalImages(t *testing.T) {
	c, _ := setup(t, 1)
	srv := fetchingSim(t, &c)
	imgs := localImages(t, filepath.Dir(c.Manifest), 2)
	require.NoError(t, os.WriteFile(c.Manifest, []byte("id,image\na,images/0.png\nb,images/1.png\n"), 0o644))
	c.Inline = true

	res, err := batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Summary.Account.Done)
	assert.Equal(t, inputs.Stats{Inlined: 2}, res.Inputs)
	assert.Zero(t, srv.Counters().InputFetchFailures)
	var sent, want []string
	for i, j := range srv.Snapshot().Jobs {
		var in struct{ Image string }
		require.NoError(t, json.Unmarshal(j.Input, &in))
		sent = append(sent, in.Image)
		want = append(want, "data:image/png;base64,"+base64.StdEncoding.EncodeToString(imgs[i]))
	}
	assert.ElementsMatch(t, want, sent, "the API got each file as a data: URI")

	res, err = batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.Zero(t, res.Summary.Submitted)
	assert.EqualValues(t, 2, srv.Counters().Submits)
	for name, b := range noSecrets(t, c, res.StatePath, imgs) {
		assert.Contains(t, string(b), manifest.LocalRef{Path: "images/0.png", SHA256: digestOf(imgs[0])}.String(), name)
	}
}

// TestRunStagesLocalImagesOnVersitygw: staging against a real S3 server,
// which checks every signature: the simulator fetches each image through
// the URL pikabatch pre-signed, as the API would, and a second run
// uploads and submits nothing.
func TestRunStagesLocalImagesOnVersitygw(t *testing.T) {
	s3 := versitygw.Start(t)
	s3.CreateBucket(t, "staging")
	s3.SetEnv(t)
	c, _ := setup(t, 1)
	srv := fetchingSim(t, &c)
	imgs := localImages(t, filepath.Dir(c.Manifest), 2)
	require.NoError(t, os.WriteFile(c.Manifest, []byte("image\nimages/0.png\nimages/1.png\nimages/0.png\n"), 0o644))
	c.StageTo = "s3://staging/pikabatch-in"

	res, err := batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, 3, res.Summary.Account.Done)
	assert.Equal(t, int64(2), res.Inputs.Uploaded)
	assert.EqualValues(t, 3, srv.Counters().InputFetches)
	assert.Zero(t, srv.Counters().InputFetchFailures, "versitygw took every signature")

	res, err = batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.Zero(t, res.Summary.Submitted)
	assert.Equal(t, inputs.Stats{}, res.Inputs)
	noSecrets(t, c, res.StatePath, imgs)
}

// TestResentSubmitsArePresignedAgain: a submit whose answer was lost is
// re-sent with its inputs prepared again (a URL signed for that send),
// and the state keeps no signature either way.
func TestResentSubmitsArePresignedAgain(t *testing.T) {
	c, _ := setup(t, 1)
	srv, err := sim.Start(sim.Config{Token: testToken, RunTime: 20 * time.Millisecond, Slots: 8, Seed: 3,
		Faults: sim.Faults{RateLostResponse: 0.5}}, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	c.APIBase, c.Concurrency = srv.APIURL, 1
	imgs := localImages(t, filepath.Dir(c.Manifest), 6)
	var body strings.Builder
	body.WriteString("id,image\n")
	for i := range imgs {
		fmt.Fprintf(&body, "r%d,images/%d.png\n", i, i)
	}
	require.NoError(t, os.WriteFile(c.Manifest, []byte(body.String()), 0o644))
	c.StageTo, _ = fakeBucket(t, "inputs", "staged")

	res, err := batch.Run(t.Context(), c)
	require.NoError(t, err)
	require.Positive(t, res.Summary.Resent, "the seed loses some answers")
	assert.EqualValues(t, srv.Counters().Submits, res.Inputs.Presigned, "every send, re-sends included, was signed for itself")
	assert.Equal(t, int64(6), res.Inputs.Uploaded, "a re-send uploads nothing again")
	noSecrets(t, c, res.StatePath, imgs)
}
