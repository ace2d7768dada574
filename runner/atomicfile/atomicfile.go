// Package atomicfile replaces a file so that a reader sees the old content
// or the new, never part of either, and so that after a crash the file is
// one of them: the new content goes to a temporary file in the same
// folder, which is fsynced, renamed over the file, and the folder fsynced.
package atomicfile

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// Write replaces the file at path with what fn writes and gives it mode
// perm, whatever the umask. fn's error is returned as it is, and leaves
// the file as it was; so does any other error, which comes from the file
// system. Either way no temporary file is left behind.
//
// The temporary file is named TempPattern(path) with the * replaced; it
// is created with O_EXCL and O_NOFOLLOW, so a file or link planted at its
// name is never written through, and the rename replaces a link at path
// rather than following it. fn should buffer its writes.
func Write(path string, perm os.FileMode, fn func(w io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := create(dir, base)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	err = fn(f)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// TempPattern is the glob of the temporary files Write uses for path: a
// run killed while writing leaves one, for the next to remove. They are
// named after the file, so writers of different files in one folder never
// touch each other's.
func TempPattern(path string) string {
	dir, base := filepath.Split(path)
	return filepath.Join(dir, "."+base+"-*.tmp")
}

// create opens a new temporary file for base in dir, as os.CreateTemp
// does, but never through a link.
func create(dir, base string) (*os.File, error) {
	for range 10000 {
		name := filepath.Join(dir, "."+base+"-"+strconv.FormatUint(uint64(rand.Uint32()), 10)+".tmp")
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, &os.PathError{Op: "createtemp", Path: TempPattern(filepath.Join(dir, base)), Err: os.ErrExist}
}
