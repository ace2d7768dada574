package manifest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

const corpusDir = "../testdata/manifests"

// corpusWant is the one problem a broken manifest of the corpus has.
type corpusWant struct {
	line  int
	field string
	is    error
}

// brokenCorpus lists every bad-* file of the corpus; a file without an
// entry fails the test, so that each new case says what it expects.
var brokenCorpus = map[string]corpusWant{
	"bad-empty.csv":                   {0, "", manifest.ErrEmpty},
	"bad-empty.jsonl":                 {0, "", manifest.ErrEmpty},
	"bad-header-only.csv":             {0, "", manifest.ErrEmpty},
	"bad-blank-lines-only.jsonl":      {0, "", manifest.ErrEmpty},
	"bad-missing-header.csv":          {1, "", manifest.ErrBadHeader},
	"bad-header-no-image.csv":         {1, "image", manifest.ErrRequired},
	"bad-header-duplicate-alias.csv":  {1, "image_url", manifest.ErrBadHeader},
	"bad-header-duplicate-column.csv": {1, "prompt", manifest.ErrBadHeader},
	"bad-header-empty-name.csv":       {1, "", manifest.ErrBadHeader},
	"bad-header-semicolons.csv":       {1, "id;image;prompt", manifest.ErrUnknownColumn},
	"bad-unknown-column.csv":          {1, "promt", manifest.ErrUnknownColumn},
	"bad-wrong-case-column.csv":       {1, "Image", manifest.ErrUnknownColumn},
	"bad-ragged-row.csv":              {3, "", manifest.ErrMalformed},
	"bad-ragged-row-extra-field.csv":  {3, "", manifest.ErrMalformed},
	"bad-bare-quote.csv":              {3, "", manifest.ErrMalformed},
	"bad-invalid-utf8.csv":            {3, "promptText", manifest.ErrMalformed},
	"bad-resolution-1080.csv":         {3, "resolution", manifest.ErrInvalidEnum},
	"bad-resolution-720P.csv":         {3, "resolution", manifest.ErrInvalidEnum},
	"bad-seed-float.csv":              {3, "seed", manifest.ErrInvalidInteger},
	"bad-seed-abc.csv":                {3, "seed", manifest.ErrInvalidInteger},
	"bad-seed-overflow.csv":           {3, "seed", manifest.ErrInvalidInteger},
	"bad-duration-7.csv":              {3, "duration", manifest.ErrInvalidEnum},
	"bad-duration-float.csv":          {3, "duration", manifest.ErrInvalidInteger},
	"bad-prompt-2001-chars.csv":       {3, "promptText", manifest.ErrTooLong},
	"bad-image-empty.csv":             {3, "image", manifest.ErrRequired},
	"bad-image-relative.csv":          {3, "image", manifest.ErrInvalidURL},
	"bad-image-ftp.csv":               {3, "image", manifest.ErrInvalidURL},
	"bad-image-file.csv":              {3, "image", manifest.ErrInvalidURL},
	"bad-image-data.csv":              {3, "image", manifest.ErrInvalidURL},
	"bad-image-no-host.csv":           {3, "image", manifest.ErrInvalidURL},
	"bad-duplicate-ids.csv":           {4, "id", manifest.ErrDuplicateID},
	"bad-duplicate-ids-case.csv":      {3, "id", manifest.ErrDuplicateID},
	"bad-unsafe-id-dotdot.csv":        {3, "id", manifest.ErrUnsafeID},
	"bad-unsafe-id-slash.csv":         {3, "id", manifest.ErrUnsafeID},
	"bad-unsafe-id-con.csv":           {3, "id", manifest.ErrUnsafeID},
	"bad-unsafe-id-reserved-ext.csv":  {3, "id", manifest.ErrUnsafeID},
	"bad-unsafe-id-200-chars.csv":     {3, "id", manifest.ErrUnsafeID},
	"bad-unsafe-id-leading-dot.csv":   {3, "id", manifest.ErrUnsafeID},
	"bad-unsafe-id-space.csv":         {3, "id", manifest.ErrUnsafeID},
	"bad-jsonl-not-object.jsonl":      {2, "", manifest.ErrMalformed},
	"bad-jsonl-syntax.jsonl":          {2, "", manifest.ErrMalformed},
	"bad-jsonl-two-objects.jsonl":     {2, "", manifest.ErrMalformed},
	"bad-jsonl-invalid-utf8.jsonl":    {2, "", manifest.ErrMalformed},
	"bad-jsonl-unknown-key.jsonl":     {2, "promt", manifest.ErrUnknownColumn},
	"bad-jsonl-duplicate-key.jsonl":   {2, "image_url", manifest.ErrMalformed},
	"bad-jsonl-missing-image.jsonl":   {2, "image", manifest.ErrRequired},
	"bad-jsonl-image-null.jsonl":      {2, "image", manifest.ErrRequired},
	"bad-jsonl-image-number.jsonl":    {2, "image", manifest.ErrMalformed},
	"bad-jsonl-image-file.jsonl":      {2, "image", manifest.ErrInvalidURL},
	"bad-jsonl-seed-float.jsonl":      {2, "seed", manifest.ErrInvalidInteger},
	"bad-jsonl-seed-abc.jsonl":        {2, "seed", manifest.ErrInvalidInteger},
	"bad-jsonl-seed-overflow.jsonl":   {2, "seed", manifest.ErrInvalidInteger},
	"bad-jsonl-seed-bool.jsonl":       {2, "seed", manifest.ErrInvalidInteger},
	"bad-jsonl-duration-7.jsonl":      {2, "duration", manifest.ErrInvalidEnum},
	"bad-jsonl-resolution-720P.jsonl": {2, "resolution", manifest.ErrInvalidEnum},
	"bad-jsonl-duplicate-ids.jsonl":   {2, "id", manifest.ErrDuplicateID},
	"bad-jsonl-unsafe-id.jsonl":       {2, "id", manifest.ErrUnsafeID},
	// Bounds on every text field, since the API's 413 for a large body
	// stops every submit (the body's size is checked by TestReaderBounds,
	// multi-MB rows in cmd's corpus test).
	"bad-negative-prompt-2001-chars.csv":         {3, "negativePrompt", manifest.ErrTooLong},
	"bad-jsonl-negative-prompt-2001-chars.jsonl": {2, "negative_prompt", manifest.ErrTooLong},
	"bad-image-url-8001-bytes.csv":               {3, "image", manifest.ErrTooLong},
	// https only (the API fetches images over https), and no credentials,
	// which logs and exports would otherwise show.
	"bad-image-http.csv":         {3, "image", manifest.ErrInvalidURL},
	"bad-jsonl-image-http.jsonl": {2, "image", manifest.ErrInvalidURL},
	"bad-image-userinfo.csv":     {3, "image", manifest.ErrInvalidURL},
	// Names holding terminal escapes are printed escaped.
	"bad-header-escape.csv":      {1, `\x1b[2Jevil`, manifest.ErrUnknownColumn},
	"bad-jsonl-key-escape.jsonl": {2, `\x1b]0;pwned\a`, manifest.ErrUnknownColumn},
	// Numbers are read in JSON's syntax only, as the API will read them.
	"bad-seed-hex.csv":          {3, "seed", manifest.ErrInvalidInteger},
	"bad-seed-underscore.csv":   {3, "seed", manifest.ErrInvalidInteger},
	"bad-seed-leading-zero.csv": {3, "seed", manifest.ErrInvalidInteger},
}

func TestCorpus(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(corpusDir)
	require.NoError(t, err)
	var good, bad int
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(corpusDir, name)
		switch {
		case strings.HasPrefix(name, "good"):
			good++
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				sum, err := manifest.Validate(context.Background(), path, manifest.FormatAuto, func(row manifest.Row) error {
					checkRow(t, row)
					return nil
				})
				require.NoError(t, err)
				assert.Positive(t, sum.Rows)
			})
		case strings.HasPrefix(name, "bad-"):
			bad++
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				want, ok := brokenCorpus[name]
				require.True(t, ok, "add %s to brokenCorpus", name)
				_, err := manifest.Validate(context.Background(), path, manifest.FormatAuto, nil)
				var ve *manifest.ValidationError
				require.ErrorAs(t, err, &ve)
				assert.Equal(t, path, ve.File)
				require.Len(t, ve.Errors, 1, "each broken manifest has one problem: %v", err)
				got := ve.Errors[0]
				assert.Equal(t, path, got.File)
				assert.Equal(t, want.line, got.Line, "%v", got)
				assert.Equal(t, want.field, got.Field, "%v", got)
				assert.ErrorIs(t, got, want.is, "%v", got)
				assert.True(t, strings.HasPrefix(got.Error(), path), "%v", got)
				assert.NotRegexp(t, controls, got.Error(), "no raw control characters reach the terminal")
				assert.NotContains(t, err.Error(), "s3cret", "no credentials either")
			})
		default:
			t.Errorf("corpus file %s is neither good* nor bad-*", name)
		}
	}
	assert.Equal(t, len(brokenCorpus), bad, "every brokenCorpus entry has a file")
	assert.Positive(t, good)
}
