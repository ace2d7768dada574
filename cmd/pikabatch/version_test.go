package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestVersionNotDev: the version command and --version agree, and neither
// says "dev".
func TestVersionNotDev(t *testing.T) {
	_, a, _ := invoke(t, nil, "version")
	_, b, _ := invoke(t, nil, "--version")
	assert.Equal(t, a, b)
	assert.NotEqual(t, "pikabatch dev\n", a)
	assert.Regexp(t, `^pikabatch \S`, a)
}

// TestPlural: one of a thing is singular.
func TestPlural(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "1 job", plural(1, "job"))
	assert.Equal(t, "0 jobs", plural(0, "job"))
	assert.Equal(t, "8 state files", plural(8, "state file"))
}
