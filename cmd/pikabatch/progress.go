package main

import (
	"errors"
	"io"

	"github.com/pikabatch/pikabatch/runner/progress"
)

// progressMode resolves --progress for the writer the progress goes to; a
// mode it does not know is a usage error.
func progressMode(mode string, quiet bool, w io.Writer) (string, error) {
	m, err := progress.ResolveMode(mode, quiet, w)
	if errors.Is(err, progress.ErrBadMode) {
		return "", usagef("--%s", err.Error())
	}
	return m, err
}
