//go:build unix

package runner

import (
	"os"
	"syscall"
)

// oNoFollow makes an open fail on a symbolic link instead of following it.
const oNoFollow = syscall.O_NOFOLLOW

// singleLink reports whether fi is a file with one name only. A hard link
// planted in the output folder would let writes to a part file change a
// file elsewhere on the same file system.
func singleLink(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || st.Nlink == 1
}
