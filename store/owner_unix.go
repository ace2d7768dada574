//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

// processAlive reports whether a process with this pid exists on this host.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// syncDir fsyncs a directory so that a file just created in it survives a
// power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// lockShared takes a shared flock on path for as long as a damaged-looking
// file is judged, so that a writer's commit in progress is not mistaken for
// damage. ok is false when a writer holds the file.
func lockShared(path string) (unlock func(), ok bool, err error) {
	f, err := OpenRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return func() { _ = f.Close() }, true, nil
}

// sameAccess gives the file at path the mode and owner that fi describes,
// changing the owner only where it differs (which only root may do).
func sameAccess(path string, fi os.FileInfo) error {
	if err := os.Chmod(path, fi.Mode().Perm()); err != nil {
		return err
	}
	want, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	now, err := os.Stat(path)
	if err != nil {
		return err
	}
	if got, ok := now.Sys().(*syscall.Stat_t); ok && got.Uid == want.Uid && got.Gid == want.Gid {
		return nil
	}
	return os.Chown(path, int(want.Uid), int(want.Gid))
}

// lockExclusive takes an exclusive flock on f, waiting for it.
func lockExclusive(f *os.File) (unlock func(), err error) {
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
}

// oNoFollow makes an open fail on a symbolic link instead of following it.
const oNoFollow = syscall.O_NOFOLLOW

// oNonBlock makes an open of a FIFO return at once instead of waiting for
// its other end; it changes nothing for a regular file.
const oNonBlock = syscall.O_NONBLOCK
