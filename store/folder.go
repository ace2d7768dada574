package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The state files of one output folder (the shards of a batch) each track
// their own rows, but two things must be alike for all of them, or rows
// move between shards and are paid twice: how the manifest is split, and
// the schema rows are keyed with. Those are recorded once for the folder,
// in FolderRecordName, and read and written only under an exclusive lock
// on FolderLockName, so that two shards started at the same moment cannot
// both find the record empty and each write their own.

// Names in the output folder.
const (
	FolderRecordName = ".pikabatch-folder.json"
	FolderLockName   = ".pikabatch-folder.lock"
)

// Folder is what the state files of one output folder share.
type Folder struct {
	// Shards is N of the split the folder's rows were rendered with
	// (--shard K/N), 0 for none; nil until a run recorded it.
	Shards *int `json:"shards,omitempty"`
	// InputSchema is the model's input schema the first shard used, for
	// a model with no built-in one; KeyFields is what of the schema the
	// rows' keys depend on (manifest.Schema.KeyFields).
	InputSchema json.RawMessage   `json:"input_schema,omitempty"`
	KeyFields   map[string]string `json:"key_fields,omitempty"`
}

// UpdateFolder calls fn with the record of the output folder dir (zero if
// none yet) while holding the folder's lock, and writes it back, durably,
// if fn returns nil. Another UpdateFolder on the same folder, in this
// process or another, waits for it. fn's error is returned as it is.
func UpdateFolder(dir string, fn func(f *Folder) error) error {
	lock, err := OpenRegular(filepath.Join(dir, FolderLockName), os.O_RDWR|os.O_CREATE|oNoFollow, 0o600)
	if err != nil {
		return fmt.Errorf("store: lock %s: %w", dir, err)
	}
	defer lock.Close()
	unlock, err := lockExclusive(lock)
	if err != nil {
		return fmt.Errorf("store: lock %s: %w", dir, err)
	}
	defer unlock()

	path := filepath.Join(dir, FolderRecordName)
	f, err := ReadFolder(dir)
	if err != nil {
		return err
	}
	before, _ := json.Marshal(f)
	if err := fn(&f); err != nil {
		return err
	}
	after, err := json.Marshal(f)
	if err != nil || string(after) == string(before) {
		return err
	}
	if err := writeFolder(path, after); err != nil {
		return fmt.Errorf("store: write %s: %w: %w", path, ErrWrite, err)
	}
	return nil
}

// writeFolder replaces the record at path with raw: written beside it,
// synced, renamed over it. The folder's lock is held, so the temporary
// name is the writer's alone.
func writeFolder(path string, raw []byte) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	w, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o644)
	if err != nil {
		return err
	}
	_, err = w.Write(append(raw, '\n'))
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// ReadFolder returns the record of the output folder dir, zero if none,
// without its lock: for a reader that changes nothing (a dry run).
func ReadFolder(dir string) (Folder, error) {
	path := filepath.Join(dir, FolderRecordName)
	var f Folder
	raw, err := readRegular(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return f, fmt.Errorf("store: read %s: %w", path, err)
	default:
		if err := json.Unmarshal(raw, &f); err != nil {
			return Folder{}, fmt.Errorf("store: %s is damaged (%w): %w", path, err, ErrDamaged)
		}
	}
	return f, nil
}
