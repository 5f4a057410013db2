package callerauth_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every Verifier's reload goroutine ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
