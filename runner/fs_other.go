//go:build !unix

package runner

import "os"

// oNoFollow is 0 where the platform has no O_NOFOLLOW; the Lstat checks
// around every open still refuse a symbolic link.
const oNoFollow = 0

// singleLink cannot tell the link count here.
func singleLink(os.FileInfo) bool { return true }
