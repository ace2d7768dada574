package inputs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/store"
)

// stagedName is where a file of the given digest goes under prefix:
// <sha256>.<ext>, the extension lower-cased and kept only when it is a
// plain one (the API and browsers go by it).
func stagedName(prefix bucket.Location, ref manifest.LocalRef) bucket.Location {
	ext := strings.ToLower(path.Ext(ref.Path))
	if len(ext) > 8 || strings.Trim(ext[min(len(ext), 1):], "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		ext = ""
	}
	return prefix.Join(ref.SHA256 + ext)
}

// stage makes sure the staging bucket holds ref's content and returns the
// object. Sends of rows sharing a file wait for one upload; later sends in
// the run take its outcome.
func (s *Sender) stage(ctx context.Context, ref manifest.LocalRef) (bucket.Location, error) {
	obj := stagedName(s.stageTo, ref)
	name := obj.String()
	s.mu.Lock()
	if f, ok := s.staging[name]; ok {
		s.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return obj, ctx.Err()
		}
		if f.err == nil {
			s.reused.Add(1)
		}
		return obj, f.err
	}
	f := &flight{done: make(chan struct{})}
	s.staging[name] = f
	s.mu.Unlock()

	f.err = s.ensure(ctx, ref, obj)
	close(f.done)
	if f.err != nil {
		s.mu.Lock()
		delete(s.staging, name) // the next send tries again
		s.mu.Unlock()
	}
	return obj, f.err
}

// ensure puts ref's file at obj unless an object of its size is there
// (its name is its digest), and records it. An upload recorded by an
// earlier run is looked up once, not sent again, and needs no local file;
// one gone from the bucket since (a lifecycle rule on the prefix) is
// uploaded again, since the API would fail, and perhaps charge, a job
// whose image it cannot fetch.
func (s *Sender) ensure(ctx context.Context, ref manifest.LocalRef, obj bucket.Location) error {
	var rec store.Staged
	recorded := false
	if s.cfg.Records != nil {
		var err error
		if rec, recorded, err = s.cfg.Records.StagedObject(ctx, obj.String()); err != nil {
			return err
		}
	}
	local := ref.Resolve(s.cfg.Dir)
	size := rec.Size
	if !recorded {
		fi, err := statLocal(local, ref)
		if err != nil {
			return err
		}
		size = fi.Size()
	}
	a, err := s.cfg.Uploader.Stat(ctx, obj)
	switch {
	case err == nil && a.Size == size:
		s.reused.Add(1)
		if recorded {
			return nil
		}
		return s.record(ctx, ref, obj, size)
	case err != nil && !errors.Is(err, bucket.ErrNotFound):
		return fmt.Errorf("stage %s: %w", ref.Path, err)
	case recorded:
		s.cfg.Logger.Warn("staged input no longer in the bucket; uploading it again", "file", ref.Path, "object", obj.String())
	}
	return s.upload(ctx, ref, obj, local)
}

// upload puts the file at local, ref's, at obj, and records it.
func (s *Sender) upload(ctx context.Context, ref manifest.LocalRef, obj bucket.Location, local string) error {
	fi, err := statLocal(local, ref)
	if err != nil {
		return err
	}
	media, err := mediaOf(local, ref)
	if err != nil {
		return err
	}
	src := bucket.Source{Size: fi.Size(), SHA256: ref.SHA256, ContentType: media.Type,
		Open: func() (io.ReadCloser, error) { return openChecked(local, ref) }}
	if _, err := s.cfg.Uploader.Upload(ctx, obj, src); err != nil {
		return fmt.Errorf("stage %s: %w", ref.Path, err)
	}
	s.uploaded.Add(1)
	s.cfg.Logger.Info("staged input", "file", ref.Path, "object", obj.String())
	return s.record(ctx, ref, obj, fi.Size())
}

// record notes in the state that obj holds ref's content.
func (s *Sender) record(ctx context.Context, ref manifest.LocalRef, obj bucket.Location, size int64) error {
	if s.cfg.Records == nil {
		return nil
	}
	return s.cfg.Records.RecordStaged(ctx, obj.String(), store.Staged{Path: ref.Path, Size: size, SHA256: ref.SHA256})
}

// statLocal stats a local file, ErrFileMissing when it is not there.
func statLocal(local string, ref manifest.LocalRef) (os.FileInfo, error) {
	fi, err := os.Stat(local)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", ref.Path, ErrFileMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Path, err)
	}
	return fi, nil
}

// mediaOf is the media type of the file at local, for the object's
// Content-Type.
func mediaOf(local string, ref manifest.LocalRef) (manifest.Media, error) {
	f, err := os.Open(local)
	if err != nil {
		return manifest.Media{}, fmt.Errorf("%s: %w", ref.Path, err)
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return manifest.Media{}, fmt.Errorf("%s: %w", ref.Path, err)
	}
	return manifest.MediaOf(ref.Path, head[:n]), nil
}

// checkedReader reads a local file and, at its end, fails with
// ErrFileChanged unless what it read has the row's digest: an upload of
// other bytes is aborted and leaves no object.
type checkedReader struct {
	f    *os.File
	h    hash.Hash
	want string
	path string
}

func openChecked(local string, ref manifest.LocalRef) (io.ReadCloser, error) {
	f, err := os.Open(local)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", ref.Path, ErrFileMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Path, err)
	}
	return &checkedReader{f: f, h: sha256.New(), want: ref.SHA256, path: ref.Path}, nil
}

func (r *checkedReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	if errors.Is(err, io.EOF) && hex.EncodeToString(r.h.Sum(nil)) != r.want {
		return n, fmt.Errorf("%s: %w", r.path, ErrFileChanged)
	}
	return n, err
}

func (r *checkedReader) Close() error { return r.f.Close() }
