package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/cmd/pikabatch/internal/bench"
)

// newBenchCmd is the bench harness's command, with this binary's
// conventions.
func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	return bench.NewCommand(bench.CommandConfig{
		Stdout: stdout, Stderr: stderr, Args: noArgs, Complete: completeWords,
		Usage: func(err error) error { return usagef("%v", err) },
		WriteJSON: func(w io.Writer, rs []bench.Result) error {
			return writeJSON(w, benchJSON{Version: jsonVersion, Scenarios: rs})
		},
	})
}
