//go:build unix

package verify

import (
	"os"
	"syscall"
)

// openNoFollow opens path for reading, failing on a symbolic link: one
// swapped in after the Lstat is not followed either.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
}
