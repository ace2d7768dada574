package bench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/store"
)

// writeManifest writes a CSV manifest of n distinct valid rows. Every row
// has an id, except every third when derivedKeys is set, so that keys derived
// from the parameters (and their duplicate checks) are exercised too.
func writeManifest(path string, n int, derivedKeys bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "id,image,promptText,seed,resolution,duration")
	for i := range n {
		id := fmt.Sprintf("bench-%07d", i)
		if derivedKeys && i%3 == 2 {
			id = ""
		}
		fmt.Fprintf(w, "%s,https://img.example.com/batch/%07d.png,a slow pan over scene %d with soft light,%d,720p,5\n", id, i, i, i)
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// seedDone makes out look like the end of a finished run of the manifest:
// every row done in the store, with its file present. Writing it directly
// takes seconds where rendering 100,000 rows would take minutes.
func seedDone(ctx context.Context, manifestPath, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(out, ".pikabatch.db"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := manifest.Open(manifestPath, manifest.FormatAuto)
	if err != nil {
		return err
	}
	defer rows.Close()

	video := make([]byte, 256)
	copy(video, "\x00\x00\x00\x18ftypisom")
	sum := sha256.Sum256(video)
	digest := hex.EncodeToString(sum[:])
	now := time.Now().UTC()

	// Many writers at once, so that the store's batching commits them in
	// few transactions.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(512)
	n := 0
	for {
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		n++
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
		g.Go(func() error {
			input, err := json.Marshal(row.Input)
			if err != nil {
				return err
			}
			name := row.Key + ".mp4"
			if err := os.WriteFile(filepath.Join(out, name), video, 0o644); err != nil {
				return err
			}
			return st.Put(gctx, store.Job{
				Key: row.Key, ParamHash: row.Input.Hash(), Line: row.Line, Input: input,
				State: store.StateDone, RequestID: id, Attempts: 1,
				Outputs: []store.Output{{URL: "https://files.invalid/" + id + "/0.mp4", Path: name,
					Size: int64(len(video)), SHA256: digest}},
				SubmittedAt: now, FinishedAt: now, DownloadedAt: now,
			})
		})
	}
	return g.Wait()
}
