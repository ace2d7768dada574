package store

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// NotRegularError is returned when a path pikabatch reads or writes beside
// a batch (the state file, its journal, the results index) is not a regular
// file. A FIFO there would block open(2) until some other process opened its
// other end, which may be never; a device or a directory is no batch's file
// either. It matches ErrNotRegular.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is not a regular file (%s): move it aside", e.Path, kindOf(e.Mode))
}

// Is makes errors.Is(err, ErrNotRegular) match.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "mode " + m.String()
}

// OpenRegular opens path as os.OpenFile does, but only a regular file
// (following symbolic links), and never blocks on what it refuses: the path
// is looked up first for a clear error, then opened non-blocking, so that a
// FIFO put there between the two still cannot block, and the opened file is
// checked again. A refusal is a *NotRegularError.
func OpenRegular(path string, flag int, perm os.FileMode) (*os.File, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	f, err := os.OpenFile(path, flag|oNonBlock, perm)
	if err != nil {
		if fi, serr := os.Stat(path); serr == nil && !fi.Mode().IsRegular() {
			// A writer's open of a FIFO nobody reads fails (ENXIO) instead
			// of blocking: say what is there.
			return nil, &NotRegularError{Path: path, Mode: fi.Mode()}
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	return f, nil
}

// readRegular is os.ReadFile through OpenRegular.
func readRegular(path string) ([]byte, error) {
	f, err := OpenRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
