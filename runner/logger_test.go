package runner_test

import (
	"log/slog"
	"testing"
)

// testLogger sends the runner's logs to the test's output, so they show
// only for a failing test (or with -v).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
