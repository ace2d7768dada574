package batch

import (
	"context"
	"path/filepath"
	"time"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/inputs"
	"github.com/pikabatch/pikabatch/store"
)

// maxPresignTTL is the longest a pre-signed URL may be valid: S3's
// signatures (version 4) allow a week, and a longer one is refused.
const maxPresignTTL = 7 * 24 * time.Hour

// checkInputs refuses ways of sending local files no run can use, and
// says how the manifest's reader takes them.
func (b *batch) checkInputs() error {
	c := b.c
	switch {
	case c.PresignTTL < 0 || c.PresignTTL > maxPresignTTL:
		return configf("--presign-ttl must be between 1s and %s (a week, the longest a pre-signed S3 URL lives), not %s", maxPresignTTL, c.PresignTTL)
	case c.PresignTTL > 0 && c.PresignTTL < time.Second:
		return configf("--presign-ttl must be at least 1s, not %s", c.PresignTTL)
	}
	var err error
	b.files, err = LocalFiles(c.StageTo, c.Inline)
	return err
}

// LocalFiles says how a manifest's local files are sent, from the
// settings that choose it (StageTo, Inline), for a manifest.Config: one
// for every pass over the manifest, so each file is hashed once. Settings
// no run can use are a ConfigError.
func LocalFiles(stageTo string, inline bool) (*manifest.LocalFiles, error) {
	switch {
	case stageTo != "" && inline:
		return nil, configf("--stage-to and --inline are two ways to send local files: give one")
	case inline:
		return &manifest.LocalFiles{Send: manifest.FilesInline}, nil
	case stageTo == "":
		return &manifest.LocalFiles{Send: manifest.FilesRefused}, nil
	}
	l, err := bucket.Parse(stageTo)
	if err != nil {
		return nil, configf("--stage-to: %v", err)
	}
	if l.Key == "" {
		// The objects are named by their digest: a prefix keeps them
		// apart from whatever else the bucket holds.
		return nil, configf("--stage-to %s: give a prefix in the bucket for the staged files, as %s://%s/pikabatch-inputs", stageTo, l.Scheme, l.Bucket)
	}
	return &manifest.LocalFiles{Send: manifest.FilesStaged}, nil
}

// inputsSender builds what gets the rows' bucket objects and local files
// to the API: pre-signed at each send, staged files recorded in st. The
// bucket client is closed by the caller.
func (b *batch) inputsSender(st *store.Store, bc *bucket.Client) (*inputs.Sender, error) {
	var fields []string
	if b.schema != nil {
		fields = b.schema.FileFields()
	}
	return inputs.New(inputs.Config{
		Dir:        filepath.Dir(b.c.Manifest),
		Fields:     fields,
		Send:       b.files.Send,
		StageTo:    b.c.StageTo,
		PresignTTL: b.c.PresignTTL,
		Presigner:  bc,
		Uploader:   bc,
		Records:    st,
		Logger:     b.log,
	})
}

// logInputs says what staging did, once the run ends.
func (b *batch) logInputs(ctx context.Context, s inputs.Stats) {
	if s.Uploaded+s.Reused+s.Inlined+s.Presigned == 0 {
		return
	}
	b.log.InfoContext(ctx, "inputs sent", "uploaded", s.Uploaded, "already_staged", s.Reused,
		"presigned", s.Presigned, "inline", s.Inlined)
}
