package inputs

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/pikabatch/pikabatch/manifest"
)

// dataURI reads the local file ref names and returns it as a data: URI,
// after checking it is the content the row was made from.
func (s *Sender) dataURI(ref manifest.LocalRef) (string, error) {
	p, err := readChecked(ref, ref.Resolve(s.cfg.Dir))
	if err != nil {
		return "", err
	}
	head := p[:min(len(p), 512)]
	media := manifest.MediaOf(ref.Path, head)
	b := make([]byte, 0, manifest.DataURILen(media.Type, int64(len(p))))
	b = append(b, "data:"...)
	b = append(b, media.Type...)
	b = append(b, ";base64,"...)
	b = base64.StdEncoding.AppendEncode(b, p)
	s.inlined.Add(1)
	return string(b), nil
}

// readChecked reads a local file whole, up to the cap of an inline
// request, and checks its digest against ref's.
func readChecked(ref manifest.LocalRef, path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", ref.Path, ErrFileMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Path, err)
	}
	defer f.Close()
	p, err := io.ReadAll(io.LimitReader(f, manifest.MaxInlineRequestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Path, err)
	}
	sum := sha256.Sum256(p)
	if len(p) > manifest.MaxInlineRequestBytes || hex.EncodeToString(sum[:]) != ref.SHA256 {
		return nil, fmt.Errorf("%s: %w", ref.Path, ErrFileChanged)
	}
	return p, nil
}
