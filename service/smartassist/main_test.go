package smartassist_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind, e.g. a fake
// server not closed or a Client whose idle connections were not released.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
