package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine they started (the
// simulator's servers, a run's workers) is still running when they end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
