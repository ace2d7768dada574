package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine they started is still
// running when they end: every command waits for what it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
