package bucketsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"strings"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/store"
)

// errLocal marks a problem with the local file, not with the bucket: that
// file waits, the other uploads go on.
var errLocal = errors.New("local file")

// errNotAsRecorded: the file on disk is not the one the state recorded.
var errNotAsRecorded = errors.New("the file is not the one the state recorded; `pikabatch verify` checks it")

// upload copies one done file to the bucket and records the copy. A file
// just saved (fresh) is sent without asking the bucket first: no copy of
// it can be there, unless its record was lost, and then sending the same
// bytes again is harmless. A bucket error stops the uploads not started
// yet (fail); a local one leaves this file waiting.
func (s *Syncer) upload(ctx context.Context, o store.Output, fresh bool) {
	if s.isDown() || ctx.Err() != nil {
		return
	}
	if !filepath.IsLocal(o.Path) {
		s.local.Add(1)
		s.log.Warn("not copied: its recorded path leads outside the folder", "path", o.Path)
		return
	}
	obj := s.cfg.To.Join(filepath.ToSlash(o.Path))
	src := s.source(filepath.Join(s.cfg.Dir, o.Path), o.Size, o.SHA256)
	wrote, err := true, error(nil)
	if fresh {
		err = s.up.Put(ctx, obj, src)
	} else {
		wrote, err = s.up.Upload(ctx, obj, src)
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return
	case errors.Is(err, errLocal):
		s.local.Add(1)
		s.log.Warn("not copied to the bucket", "path", o.Path, "err", err)
		return
	default:
		s.fail(err)
		return
	}
	s.count(wrote, o.Size)
	// The copy is in the bucket: it is recorded even when the run is
	// stopping, or the next run would look at it again.
	c := store.Copy{Path: o.Path, Size: o.Size, SHA256: o.SHA256}
	if err := s.rec.RecordCopy(context.WithoutCancel(ctx), ObjectName(obj), c); err != nil {
		// The next run finds the object there by its digest and records it.
		s.log.Warn("copy not recorded", "path", o.Path, "err", err)
	}
	s.log.Debug("copied", "path", o.Path, "sent", wrote)
}

func (s *Syncer) count(wrote bool, size int64) {
	if wrote {
		s.uploaded.Add(1)
		s.bytes.Add(size)
		return
	}
	s.present.Add(1)
}

// uploadExtra copies the file name in Dir (the index, the dataset
// metadata) unless the bucket holds it as it is; a file not there is
// nothing to copy. It reports false when the file waits.
func (s *Syncer) uploadExtra(ctx context.Context, name string) bool {
	path := filepath.Join(s.cfg.Dir, name)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if s.isDown() || ctx.Err() != nil {
		return false
	}
	size, sum, err := hashFile(path)
	if err != nil {
		s.log.Warn("not copied to the bucket", "path", name, "err", err)
		return false
	}
	wrote, err := s.up.Upload(ctx, s.cfg.To.Join(filepath.ToSlash(name)), s.source(path, size, sum))
	switch {
	case err == nil:
		s.count(wrote, size)
		return true
	case ctx.Err() == nil && !errors.Is(err, errLocal):
		s.fail(err)
	default:
		s.log.Warn("not copied to the bucket", "path", name, "err", err)
	}
	return false
}

// hashFile returns the size and SHA-256 (hex) of the file at path, read as
// a stream.
func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// source is the file at path as an upload reads it: streamed, and hashed
// on the way, so that a file that is not the recorded one (size, digest)
// fails the upload before the object is committed.
func (s *Syncer) source(path string, size int64, sum string) bucket.Source {
	return bucket.Source{
		Open: func() (io.ReadCloser, error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", errLocal, err)
			}
			return &checked{f: f, h: sha256.New(), size: size, want: sum}, nil
		},
		Size:        size,
		SHA256:      sum,
		ContentType: contentType(path),
	}
}

// checked reads a file of a known size and digest, hashing it. It holds
// back the file's last bytes until it has checked the whole: a request
// that streams the file with its length commits the object as soon as the
// server has every byte, so a file that is not the one wanted must fail
// before then, and the request is cut short. It can be rewound to its
// start, for a request sent again.
type checked struct {
	f    *os.File
	h    hash.Hash
	size int64
	want string
	n    int64 // bytes read and hashed since the start
	lost bool  // moved elsewhere than the start: the hash no longer covers the bytes
	tail [1]byte
}

func (c *checked) Read(p []byte) (int, error) {
	if c.lost {
		return 0, fmt.Errorf("%w: %s: read after a seek", errLocal, c.f.Name())
	}
	n, err := c.f.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		return n, fmt.Errorf("%w: %w", errLocal, err)
	case c.n > c.size, errors.Is(err, io.EOF) && c.n < c.size:
		return 0, c.notAsRecorded()
	case c.n == c.size && n > 0:
		// The last byte: the file ends here and is the one wanted, or
		// none of this read goes out.
		if m, _ := c.f.Read(c.tail[:]); m > 0 || hex.EncodeToString(c.h.Sum(nil)) != c.want {
			return 0, c.notAsRecorded()
		}
	}
	return n, err
}

func (c *checked) notAsRecorded() error {
	return fmt.Errorf("%w: %s: %w", errLocal, c.f.Name(), errNotAsRecorded)
}

// Seek moves as the file does; only back to the start does the check
// begin again.
func (c *checked) Seek(offset int64, whence int) (int64, error) {
	if offset == 0 && whence == io.SeekCurrent && !c.lost {
		return c.n, nil
	}
	pos, err := c.f.Seek(offset, whence)
	if err != nil {
		return pos, fmt.Errorf("%w: %w", errLocal, err)
	}
	c.lost = pos != 0
	if pos == 0 {
		c.h.Reset()
		c.n = 0
	}
	return pos, nil
}

func (c *checked) Close() error { return c.f.Close() }

// contentType is the type of a file a batch copies, whatever the
// system's MIME tables say of the usual ones.
func contentType(path string) string {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".mp4":
		return "video/mp4"
	case ".webm":
		return "video/webm"
	case ".mov":
		return "video/quicktime"
	case ".jsonl":
		return "application/jsonl"
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
	}
	return "application/octet-stream"
}
