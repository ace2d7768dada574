package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDownloadIdleTimeoutFlag: a zero or negative idle timeout would mean
// "never give up on a stalled host" or nothing at all; it is refused.
func TestDownloadIdleTimeoutFlag(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"0", "-5s"} {
		code, _, stderr := invoke(t, nil, "run", "--manifest", filepath.Join(dir, "m.csv"), "--out", dir, "--download-idle-timeout", v)
		assert.Equal(t, exitUsage, code, v)
		assert.Contains(t, stderr, "--download-idle-timeout", v)
	}
}

// TestMaxFileSizeFlag: the cap defaults to 2 GiB, where RunComfy's own CLI
// stops a download, and its help says so and what happens to a refused
// file.
func TestMaxFileSizeFlag(t *testing.T) {
	code, stdout, stderr := invoke(t, nil, "run", "-h")
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout+stderr, "--max-file-size bytes")
	assert.Contains(t, stdout+stderr, "2 GiB")
	assert.Contains(t, stdout+stderr, "(default 2147483648)")
	assert.Contains(t, stdout+stderr, "partial file is deleted")
}
