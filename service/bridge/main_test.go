package bridge_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: a bridge
// not shut down, a fake SmartAssist not closed, a client whose idle
// connections were not released, or a Watch stream that never ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
