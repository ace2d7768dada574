package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/pikabatch/pikabatch/runner/bucket/fakes3"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValidateLocalFiles: validate refuses a local image unless told how
// it will be sent, naming both ways; with --inline it holds each file to
// the inline caps; --stage-to has no caps; both at once is a usage error,
// as it is for run, before a token is asked for.
func TestValidateLocalFiles(t *testing.T) {
	dir := t.TempDir()
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00\x90\x91h6"
	writeFile(t, filepath.Join(dir, "small.png"), png)
	big := writeFile(t, filepath.Join(dir, "big.png"), png)
	require.NoError(t, os.Truncate(big, 6<<20+1))
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,image\na,small.png\nb,big.png\n")
	small := writeFile(t, filepath.Join(dir, "small.csv"), "id,image\na,small.png\n")

	code, stdout, stderr := invoke(t, nil, "validate", "--manifest", m)
	assert.Equal(t, exitDataErr, code)
	assert.Contains(t, stdout+stderr, m+":2: field image: \"small.png\" is a local file")
	assert.Contains(t, stdout+stderr, "--stage-to BUCKET_URL/prefix")
	assert.Contains(t, stdout+stderr, "--inline")

	code, stdout, stderr = invoke(t, nil, "validate", "--manifest", m, "--inline")
	assert.Equal(t, exitDataErr, code)
	assert.Contains(t, stdout+stderr, m+":3: field image: \"big.png\" is 6.0 MiB; an image sent inline may be at most 6.0 MiB")
	assert.NotContains(t, stdout+stderr, ":2:")

	code, stdout, stderr = invoke(t, nil, "validate", "--manifest", small, "--inline")
	assert.Equal(t, exitOK, code, stdout+stderr)
	code, stdout, stderr = invoke(t, nil, "validate", "--manifest", m, "--stage-to", "s3://bucket/pikabatch-in")
	assert.Equal(t, exitOK, code, stdout+stderr)

	code, _, stderr = invoke(t, nil, "validate", "--manifest", m, "--stage-to", "s3://bucket/in", "--inline")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--stage-to and --inline are two ways to send local files")
	code, _, stderr = invoke(t, map[string]string{"RUNCOMFY_API_TOKEN": "", "RUNCOMFY_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": ""},
		"run", "--manifest", small, "--out", filepath.Join(dir, "out"), "--stage-to", "s3://bucket")
	assert.Equal(t, exitUsage, code, "a usage error comes before the missing token")
	assert.Contains(t, stderr, "give a prefix in the bucket")
}

// TestValidateCheckURLsAsksTheBucket: with --check-urls, an s3:// image is
// looked up in its bucket, never fetched: a missing object fails the
// check, and one that is there passes.
func TestValidateCheckURLsAsksTheBucket(t *testing.T) {
	fake := fakes3.Start(t, nil, "inputs")
	_, err := fake.Backend.PutObject("inputs", "cats/a.png", map[string]string{"Content-Type": "image/png"},
		bytes.NewReader([]byte("\x89PNG\r\n\x1a\nimage")), 13, nil)
	require.NoError(t, err)
	env := fakes3.Env()
	opts := "?region=us-east-1&use_path_style=true&disable_https=true&endpoint=" + fake.URL
	m := writeFile(t, filepath.Join(t.TempDir(), "m.csv"),
		"id,image\nthere,s3://inputs/cats/a.png"+opts+"\ngone,s3://inputs/cats/none.png"+opts+"\n")

	code, stdout, stderr := invoke(t, env, "validate", "--manifest", m, "--check-urls")
	assert.Equal(t, exitDataErr, code, stderr)
	assert.Regexp(t, `there +ok +s3://inputs/cats/a.png`, stdout)
	assert.Regexp(t, `gone +FAIL s3://inputs/cats/none.png.* — no such object in the bucket`, stdout)
	assert.Contains(t, stdout, "1 would fail")
}

// TestDemoInlinesLocalImages: the demo renders a manifest of local
// images with --inline on a simulator that decodes each one as the API
// would; run, validate and demo all list the flags.
func TestDemoInlinesLocalImages(t *testing.T) {
	dir := t.TempDir()
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00\x90\x91h6"
	writeFile(t, filepath.Join(dir, "a.png"), png+"a")
	writeFile(t, filepath.Join(dir, "b.png"), png+"b")
	o := testDemoOptions(filepath.Join(dir, "out"))
	o.batch.cfg.Manifest = writeFile(t, filepath.Join(dir, "m.csv"), "id,image\na,a.png\nb,b.png\n")
	o.batch.cfg.Inline = true
	o.sim.FetchInputs = true
	var stdout, stderr bytes.Buffer
	require.NoError(t, runDemo(t.Context(), o, &stdout, &stderr), "%s\n%s", stdout.String(), stderr.String())
	assert.Contains(t, stdout.String(), "rows 2: 2 done")

	for _, cmd := range []string{"run", "validate", "demo"} {
		_, out, _ := invoke(t, nil, cmd, "--help")
		assert.Contains(t, out, "--stage-to", cmd)
		assert.Contains(t, out, "--inline", cmd)
	}
}
