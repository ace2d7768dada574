package runner

import (
	"io"
	"os"
)

// FS is the file-system seam of the downloader, so tests can make writes fail
// (disk full) where running as root makes permissions prove nothing.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	// Lstat does not follow a symbolic link: the downloader never does.
	Lstat(name string) (os.FileInfo, error)
	// SyncDir makes a rename in dir durable.
	SyncDir(dir string) error
}

// File is an open file as the downloader uses it.
type File interface {
	io.ReadWriteCloser
	io.Seeker
	Truncate(size int64) error
	Sync() error
	Stat() (os.FileInfo, error)
}

// OSFS is the real file system.
type OSFS struct{}

var _ FS = OSFS{}

func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	return os.OpenFile(name, flag, perm)
}
func (OSFS) Rename(oldpath, newpath string) error   { return os.Rename(oldpath, newpath) }
func (OSFS) Remove(name string) error               { return os.Remove(name) }
func (OSFS) Lstat(name string) (os.FileInfo, error) { return os.Lstat(name) }
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
