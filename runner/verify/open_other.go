//go:build !unix

package verify

import "os"

// openNoFollow opens path for reading; the Lstat before it and the
// SameFile check after it stand in for O_NOFOLLOW here.
func openNoFollow(path string) (*os.File, error) { return os.Open(path) }
