package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// corpusDir holds the shared manifest corpus; manifest/corpus_test.go pins
// each bad-* file's line, field and sentinel.
const corpusDir = "../../testdata/manifests"

// TestBrokenManifestsSubmitNothing runs every broken manifest of the corpus,
// plus a 0-byte file and a missing one, through `run` and `validate`: each
// exits 65, names the file (and the line and field where there is one) and
// sends nothing to the API.
func TestBrokenManifestsSubmitNothing(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	env := tokenEnv(srv.APIURL)

	entries, err := os.ReadDir(corpusDir)
	require.NoError(t, err)
	var paths []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "bad-") {
			paths = append(paths, filepath.Join(corpusDir, e.Name()))
		}
	}
	require.GreaterOrEqual(t, len(paths), 50, "the corpus is where it should be")
	// Rows the API would refuse with a 413 that stops every submit, too
	// big to keep in the corpus: each must be refused here, for nothing.
	const good = `{"id":"ok","image":"https://img.example.com/a.png"}` + "\n"
	amps := "https://img.example.com/a.png?" + strings.Repeat("&", manifest.MaxImageURLBytes-30)
	paths = append(paths,
		writeFile(t, filepath.Join(dir, "big-negative-prompt.csv"), "id,image,negativePrompt\n"+
			"ok,https://img.example.com/a.png,blurry\n"+
			"big,https://img.example.com/b.png,"+strings.Repeat("n", 3<<20)+"\n"),
		writeFile(t, filepath.Join(dir, "big-negative-prompt.jsonl"), good+
			`{"id":"big","image":"https://img.example.com/b.png","negativePrompt":"`+strings.Repeat("n", 3<<20)+`"}`+"\n"+
			`{"id":"long","image":"http://img.example.com/c.png","negativePrompt":"`+strings.Repeat("n", 2001)+`"}`+"\n"),
		writeFile(t, filepath.Join(dir, "huge-line.jsonl"), good+strings.Repeat("x", 10<<20)+"\n"+good),
		writeFile(t, filepath.Join(dir, "body-too-large.jsonl"), good+
			`{"id":"body","image":"`+amps+`","promptText":"`+strings.Repeat("<", 2000)+`","negativePrompt":"`+strings.Repeat(">", 2000)+`"}`+"\n"),
	)
	paths = append(paths,
		writeFile(t, filepath.Join(dir, "zero-bytes.csv"), ""),
		writeFile(t, filepath.Join(dir, "zero-bytes.jsonl"), ""),
		// Never created. sysexits would say 66 (EX_NOINPUT), but README's
		// table has no such code: a manifest that cannot be read is 65.
		filepath.Join(dir, "does-not-exist.csv"),
	)

	for i, path := range paths {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			// The manifest package's own verdict is the oracle: its corpus
			// test pins it to each file's expected line, field and sentinel.
			// The command must pass every one of its RowErrors on as is.
			_, want := manifest.Validate(context.Background(), path, manifest.FormatAuto, nil)
			require.Error(t, want, "%s is meant to be broken", name)
			var rowErrs []*manifest.RowError
			var ve *manifest.ValidationError
			if errors.As(want, &ve) {
				rowErrs = ve.Errors
			}
			isMissing := errors.Is(want, os.ErrNotExist)
			isEmpty := errors.Is(want, manifest.ErrEmpty)
			if !isMissing {
				require.NotEmpty(t, rowErrs, "a broken manifest is a ValidationError: %v", want)
			}
			// lineRef matches "NAME:N", N from 1, as a RowError prints it.
			lineRef := regexp.MustCompile(regexp.QuoteMeta(name) + `:[1-9][0-9]*\b`)

			check := func(t *testing.T, cmd, stdout, stderr string, code int) {
				t.Helper()
				assert.Equal(t, exitDataErr, code, "%s: exit code\n%s", cmd, stderr)
				assert.Empty(t, stdout, "%s: nothing on stdout for a rejected manifest", cmd)
				assert.Contains(t, stderr, name, "%s: the error names the file", cmd)
				if !isEmpty && !isMissing {
					assert.Regexp(t, lineRef, stderr, "%s: the error names the line as FILE:N", cmd)
				}
				for _, re := range rowErrs {
					assert.Contains(t, stderr, re.Error(), "%s: every problem is reported as the manifest package words it", cmd)
					if re.Line > 0 {
						assert.Contains(t, stderr, name+":"+strconv.Itoa(re.Line), cmd)
					}
					if re.Field != "" {
						assert.Contains(t, stderr, "field "+re.Field, cmd)
					}
				}
				assert.NotContains(t, stdout+stderr, testToken, cmd)
				assert.NotRegexp(t, controls, stdout+stderr, "%s: manifest text reaches the terminal escaped", cmd)
				assert.NotContains(t, stdout+stderr, "s3cret", "%s: and without credentials", cmd)
				assert.NotContains(t, stderr, "manifest: manifest:", "%s: the message says it once", cmd)
			}

			out := filepath.Join(dir, "out-"+strconv.Itoa(i))
			code, stdout, stderr := invoke(t, env, "run", "--manifest", path, "--out", out)
			check(t, "run", stdout, stderr, code)
			assert.NoFileExists(t, filepath.Join(out, ".pikabatch.db"), "no state file for a rejected manifest")

			code, stdout, stderr = invoke(t, env, "validate", "--manifest", path)
			check(t, "validate", stdout, stderr, code)

			c := srv.Counters()
			assert.Zero(t, c.Submits, "submits after %s", name)
			assert.Zero(t, c.Requests, "API requests after %s", name)
		})
	}

	c := srv.Counters()
	assert.Zero(t, c.Submits, "the whole corpus submits nothing")
	assert.Zero(t, c.Requests, "the whole corpus sends no API request at all")
	assert.Zero(t, c.Downloads)
}
