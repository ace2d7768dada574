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
