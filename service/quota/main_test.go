package quota_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind, e.g. a
// waiting Acquire or a Redis client that was not closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
