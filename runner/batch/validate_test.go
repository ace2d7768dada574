package batch_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest/probe"
	"github.com/pikabatch/pikabatch/runner/batch"
)

// validateManifest writes a three-row manifest whose images srv serves,
// the second one missing.
func validateManifest(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.csv")
	require.NoError(t, os.WriteFile(path, []byte("id,image,promptText,duration,resolution\n"+
		"a,"+srv.URL+"/a.png,hi,5,720p\nb,"+srv.URL+"/gone.png,yo,10,1080p\nc,"+srv.URL+"/a.png,yo,10,1080p\n"), 0o600))
	return path
}

func TestValidateCountsAndPrices(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c := batch.ValidateConfig{Config: batch.Config{Manifest: validateManifest(t, srv), Format: "auto",
		Model: batch.DefaultModel, PriceUSD: 0.5}}
	v, err := batch.Validate(context.Background(), c)
	require.NoError(t, err)
	assert.Equal(t, 3, v.Summary.Rows)
	assert.Equal(t, map[int]int{5: 1, 10: 2}, v.Summary.ByDuration)
	assert.Equal(t, map[string]int{"720p": 1, "1080p": 2}, v.Summary.ByResolution)
	assert.NotNil(t, v.Read.Schema, "the built-in schema needs no catalog")
	assert.NotNil(t, v.Pricer)
}

func TestValidateRefusesBadSettings(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	m := validateManifest(t, srv)
	for name, c := range map[string]batch.ValidateConfig{
		"no manifest": {Config: batch.Config{Format: "auto", Model: batch.DefaultModel}},
		"bad format":  {Config: batch.Config{Manifest: m, Format: "xml", Model: batch.DefaultModel}},
		"no rate":     {Config: batch.Config{Manifest: m, Format: "auto", Model: batch.DefaultModel}, URLs: true, CheckConcurrency: 1},
	} {
		_, err := batch.Validate(context.Background(), c)
		var ce *batch.ConfigError
		assert.True(t, errors.As(err, &ce), "%s: %v", name, err)
	}
}

func TestValidateCheckURLs(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\n0000000000000000")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/a.png" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	}))
	defer srv.Close()
	c := batch.ValidateConfig{Config: batch.Config{Manifest: validateManifest(t, srv), Format: "auto",
		Model: batch.DefaultModel}, URLs: true, CheckConcurrency: 2, CheckRPS: 1000}
	v, err := batch.Validate(context.Background(), c)
	require.NoError(t, err)
	var seen []probe.RowCheck
	tally, err := c.CheckURLs(context.Background(), v, func(ch probe.RowCheck) { seen = append(seen, ch) })
	require.ErrorIs(t, err, probe.ErrBadURLs)
	assert.Equal(t, 1, tally.BadRows)
	require.Len(t, seen, 3, "every row's verdict is told")
	for _, ch := range seen {
		assert.Equal(t, ch.Key != "b", ch.OK, ch.Key)
	}
}
