package inputs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/store"
)

// DefaultPresignTTL is how long a pre-signed URL stays valid when
// Config.PresignTTL is unset: the API may take hours to fetch a queued
// job's inputs.
const DefaultPresignTTL = 24 * time.Hour

// Presigner makes pre-signed GET URLs. *bucket.Client implements it.
type Presigner interface {
	// Presign returns a URL that GETs l's object without credentials for
	// ttl. Each call signs afresh; it need not reach the bucket, so a
	// missing object is found by the API's fetch, not here. The URL is a
	// credential: it is sent to the API and never kept or printed.
	Presign(ctx context.Context, l bucket.Location, ttl time.Duration) (string, error)
}

// Uploader puts files in a bucket. *bucket.Client implements it.
type Uploader interface {
	// Stat returns an object's attributes, or an error wrapping
	// bucket.ErrNotFound when it is not there.
	Stat(ctx context.Context, l bucket.Location) (bucket.Attrs, error)
	// Upload writes src to l whole or not at all, and reports whether it
	// wrote (not when an object of src's size and digest is there). It is
	// idempotent, and may be retried after any error.
	Upload(ctx context.Context, l bucket.Location, src bucket.Source) (bool, error)
}

// Records keeps the staged uploads across runs. *store.Store implements it.
type Records interface {
	// StagedObject returns the record of object (a bucket URL), and
	// false when there is none.
	StagedObject(ctx context.Context, object string) (store.Staged, bool, error)
	// RecordStaged durably records that object holds st.
	RecordStaged(ctx context.Context, object string, st store.Staged) error
}

var (
	_ Presigner = (*bucket.Client)(nil)
	_ Uploader  = (*bucket.Client)(nil)
	_ Records   = (*store.Store)(nil)
)

// Errors a Sender returns; the submit was not sent.
var (
	// ErrFileChanged means a local file is not the content its row was
	// made from (its digest or size differs): it was edited after the
	// manifest was read. It wraps api.ErrRejected, so the runner fails
	// the row, which is not paid for: the next run reads it as new.
	ErrFileChanged = fmt.Errorf("local file changed since the manifest was read: %w", api.ErrRejected)
	// ErrFileMissing means a local file is not there to send (and was not
	// staged before). It wraps api.ErrRejected, as ErrFileChanged does.
	ErrFileMissing = fmt.Errorf("local file is gone: %w", api.ErrRejected)
)

// Config says how a batch's files reach the API. Zero values take the
// documented defaults.
type Config struct {
	// Dir is the folder the manifest's relative paths are read from: the
	// manifest's own.
	Dir string
	// Fields are the file fields of the model's input (Schema.FileFields);
	// nil means every top-level string of the body.
	Fields []string
	// Send is how local files are sent: manifest.FilesStaged needs StageTo
	// and Uploader; manifest.FilesInline sends data: URIs. With
	// manifest.FilesRefused a local file in a body is an error (the
	// manifest refused them, so a recorded one means the flag was dropped).
	Send manifest.FileSend
	// StageTo is the bucket URL prefix staged files go under.
	StageTo string
	// PresignTTL is how long a pre-signed URL is valid. Default
	// DefaultPresignTTL.
	PresignTTL time.Duration

	Presigner Presigner // needed for bucket inputs and staged files
	Uploader  Uploader  // needed to stage
	Records   Records   // optional: without it, each run asks the bucket again
	Logger    *slog.Logger
}

// Sender rewrites request bodies for the API (see the package doc). It is
// safe for concurrent use.
type Sender struct {
	cfg     Config
	fields  map[string]bool // nil: every field
	stageTo bucket.Location

	mu      sync.Mutex
	staging map[string]*flight // object → the upload in progress

	uploaded, reused, presigned, inlined atomic.Int64
}

// flight is one object's staging, which concurrent sends of rows sharing
// the file wait for rather than uploading it again.
type flight struct {
	done chan struct{}
	err  error
}

// New checks cfg and returns a Sender.
func New(cfg Config) (*Sender, error) {
	if cfg.PresignTTL <= 0 {
		cfg.PresignTTL = DefaultPresignTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sender{cfg: cfg, staging: map[string]*flight{}}
	if cfg.Fields != nil {
		s.fields = make(map[string]bool, len(cfg.Fields))
		for _, f := range cfg.Fields {
			s.fields[f] = true
		}
	}
	if cfg.Send == manifest.FilesStaged {
		loc, err := bucket.Parse(cfg.StageTo)
		if err != nil {
			return nil, fmt.Errorf("inputs: stage to: %w", err)
		}
		if cfg.Uploader == nil || cfg.Presigner == nil {
			return nil, errors.New("inputs: staging needs an uploader and a presigner")
		}
		s.stageTo = loc
	}
	return s, nil
}

// Stats counts what a Sender did, for the run's summary and for tests.
type Stats struct {
	Uploaded  int64 // local files uploaded to the staging bucket
	Reused    int64 // staged files found recorded or in the bucket: not uploaded
	Presigned int64 // pre-signed URLs made (one per file per send)
	Inlined   int64 // files sent as data: URIs
}

// Stats returns the counts so far.
func (s *Sender) Stats() Stats {
	return Stats{Uploaded: s.uploaded.Load(), Reused: s.reused.Load(), Presigned: s.presigned.Load(), Inlined: s.inlined.Load()}
}

// value returns what the API is sent for a file field holding v, and
// whether it differs from v.
func (s *Sender) value(ctx context.Context, v string) (string, bool, error) {
	if bucket.IsURL(v) {
		loc, err := bucket.Parse(v)
		if err != nil {
			return "", false, err
		}
		u, err := s.presign(ctx, loc)
		return u, err == nil, err
	}
	ref, ok := manifest.ParseLocalRef(v)
	if !ok {
		return v, false, nil
	}
	switch s.cfg.Send {
	case manifest.FilesStaged:
		obj, err := s.stage(ctx, ref)
		if err != nil {
			return "", false, err
		}
		u, err := s.presign(ctx, obj)
		return u, err == nil, err
	case manifest.FilesInline:
		u, err := s.dataURI(ref)
		return u, err == nil, err
	}
	return "", false, fmt.Errorf("local file %s: the batch was started with --stage-to or --inline; give the same flag again", ref.Path)
}

// presign signs l for the API.
func (s *Sender) presign(ctx context.Context, l bucket.Location) (string, error) {
	if s.cfg.Presigner == nil {
		return "", fmt.Errorf("%s: no bucket client to pre-sign it with", l)
	}
	u, err := s.cfg.Presigner.Presign(ctx, l, s.cfg.PresignTTL)
	if err != nil {
		return "", err
	}
	s.presigned.Add(1)
	return u, nil
}

// Prepare returns body with each file field that names a bucket object or
// a local file replaced by what the API can fetch; body itself when it has
// none. The result is for the API only (see the package doc).
func (s *Sender) Prepare(ctx context.Context, body json.RawMessage) (json.RawMessage, error) {
	if !mayHoldRefs(body) {
		return body, nil
	}
	return rewriteStrings(body, s.fields, func(v string) (string, bool, error) {
		return s.value(ctx, v)
	})
}
