package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pikabatch/pikabatch/runner/atomicfile"
	"github.com/pikabatch/pikabatch/store"
)

// IndexFile is the results index written into the output folder.
const IndexFile = "results.jsonl"

// IndexPerm is the mode of the results index and its exports: readable by
// all, as the videos are. They hold no secrets: URLs are redacted.
const IndexPerm = 0o644

// IndexEntry is one line of the results index: the dataset's record of a job.
// Result URLs are left out on purpose: pre-signed URLs are credentials. URLs
// in the input and the error are shown as RedactURL shows them: without
// user information or signatures (the API itself was sent them as given).
type IndexEntry struct {
	Key          string          `json:"key"`
	Line         int             `json:"line,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	State        store.State     `json:"state"`
	RequestID    string          `json:"request_id,omitempty"`
	Files        []IndexFileRef  `json:"files,omitempty"`
	Error        string          `json:"error,omitempty"`
	Attempts     int             `json:"attempts"`
	Polls        int             `json:"polls,omitempty"`
	SubmittedAt  time.Time       `json:"submitted_at,omitzero"`
	FinishedAt   time.Time       `json:"finished_at,omitzero"`
	DownloadedAt time.Time       `json:"downloaded_at,omitzero"`
	Orphan       bool            `json:"orphan,omitempty"` // no row of the last manifest read whole claims it
}

// IndexFileRef is one downloaded file.
type IndexFileRef struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// NewIndexEntry turns a job record into its index line.
func NewIndexEntry(j store.Job) IndexEntry {
	e := IndexEntry{Key: j.Key, Line: j.Line, Input: redactJSONStrings(j.Input), State: j.State, RequestID: j.RequestID,
		Error: RedactURLsIn(j.LastError), Attempts: j.Attempts, Polls: j.Polls,
		SubmittedAt: j.SubmittedAt, FinishedAt: j.FinishedAt, DownloadedAt: j.DownloadedAt}
	e.Orphan = j.Orphan
	for _, o := range j.Outputs {
		if o.Path != "" {
			e.Files = append(e.Files, IndexFileRef{Path: o.Path, Size: o.Size, SHA256: o.SHA256})
		}
	}
	return e
}

// AppendIndexLine appends e to dst as one line of the index: JSON and a
// line feed. Besides the controls encoding/json escapes (U+0000–U+001F), it
// escapes DEL and the C1 controls, so that a line printed to a terminal
// cannot drive it (manifest text is the user's, error text the API's), and
// still decodes to the same text.
func AppendIndexLine(dst []byte, e IndexEntry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return dst, err
	}
	dst = appendEscapedControls(dst, b)
	return append(dst, '\n'), nil
}

// appendEscapedControls appends the encoded JSON b to out, with DEL and
// the C1 controls (U+0080–U+009F, among them the 8-bit CSI U+009B) written
// as \u escapes. In valid JSON these bytes occur only inside strings, and
// in valid UTF-8 the bytes C2 80–C2 9F are exactly those code points.
func appendEscapedControls(out, b []byte) []byte {
	last := 0
	for i := 0; i < len(b); i++ {
		var r int
		switch {
		case b[i] == 0x7f:
			r = 0x7f
		case b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f:
			r = int(b[i+1])
		default:
			continue
		}
		out = append(out, b[last:i]...)
		out = fmt.Appendf(out, `\u%04x`, r)
		if r != 0x7f {
			i++
		}
		last = i + 1
	}
	return append(out, b[last:]...)
}

// writeIndex rewrites <out>/results.jsonl atomically from the store.
func (r *Runner) writeIndex(ctx context.Context) error {
	name := r.cfg.IndexName
	if name == "" {
		name = IndexFile
	}
	final := filepath.Join(r.cfg.OutDir, name)
	// A temporary file left by a run killed while writing is stale: this
	// run holds the state file's lock. (Each index has its own, so shards
	// sharing a folder never touch each other's.)
	if stale, err := filepath.Glob(atomicfile.TempPattern(final)); err == nil {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	marks, _ := r.store.(indexMarker)
	if marks != nil && indexUpToDate(ctx, marks, final) {
		// Nothing was written to the store since this file was: a re-run
		// of a finished batch need not re-encode it (0.8 s and 53 MB at
		// 100,000 rows).
		return nil
	}
	var werr error
	err := atomicfile.Write(final, IndexPerm, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		var line []byte
		werr = r.store.ForEach(ctx, func(j store.Job) error {
			var err error
			if line, err = AppendIndexLine(line[:0], NewIndexEntry(j)); err != nil {
				return err
			}
			_, err = bw.Write(line)
			return err
		})
		if werr != nil {
			return werr
		}
		return bw.Flush()
	})
	switch {
	case werr != nil:
		return fmt.Errorf("write %s: %w", final, werr)
	case err != nil:
		return fmt.Errorf("write %s: %w: %w", final, ErrOutput, err)
	}
	if marks != nil {
		if fi, err := os.Stat(final); err == nil {
			// Best effort: without the mark the next run rewrites the file.
			_ = marks.SetMark(ctx, indexMarkKey(final), strconv.FormatInt(fi.Size(), 10))
		}
	}
	return nil
}

// indexMarker is a Checkpoint that can mark a file derived from it and tell
// later whether anything was written since (*store.Store).
type indexMarker interface {
	SetMark(ctx context.Context, key, value string) error
	Mark(ctx context.Context, key string) (value string, unchanged bool, err error)
}

func indexMarkKey(path string) string { return "index " + filepath.Base(path) }

// indexUpToDate reports whether the index at path was written from the
// store as it is now and is still there with the size it was written with.
func indexUpToDate(ctx context.Context, marks indexMarker, path string) bool {
	size, unchanged, err := marks.Mark(ctx, indexMarkKey(path))
	if err != nil || !unchanged {
		return false
	}
	// Lstat: a link planted at the index's name is not the index written.
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode().IsRegular() && strconv.FormatInt(fi.Size(), 10) == size
}
