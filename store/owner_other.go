//go:build !unix

package store

import "os"

// processAlive can't tell here, so it trusts the owner file.
func processAlive(int) bool { return true }

// syncDir is a no-op where directories can't be fsynced.
func syncDir(string) error { return nil }

// lockShared can't lock here; the file is judged as it is.
func lockShared(string) (unlock func(), ok bool, err error) { return func() {}, true, nil }

// sameAccess gives the file at path the mode of fi.
func sameAccess(path string, fi os.FileInfo) error { return os.Chmod(path, fi.Mode().Perm()) }

// lockExclusive can't lock here: runs sharing a folder must not start at
// the same moment.
func lockExclusive(*os.File) (unlock func(), err error) { return func() {}, nil }

// oNoFollow is not available here.
const oNoFollow = 0

// oNonBlock is 0 where files have no non-blocking open.
const oNonBlock = 0
