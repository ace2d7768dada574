//go:build !unix

package atomicfile

// oNoFollow is 0 where the platform has no O_NOFOLLOW; O_EXCL still
// refuses a link at the temporary file's name.
const oNoFollow = 0

// syncDir does nothing where a folder cannot be opened to be fsynced.
func syncDir(string) error { return nil }
