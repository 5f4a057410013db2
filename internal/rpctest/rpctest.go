// Package rpctest holds the small helpers several packages' tests share:
// a log sink safe for concurrent use, the lookup of an error detail, and
// waiting for a condition.
package rpctest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// SyncBuffer is a bytes.Buffer safe for a logger's concurrent writes and a
// test's reads.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FindDetail returns the first of details that is a T.
func FindDetail[T proto.Message](details []proto.Message) (T, bool) {
	for _, d := range details {
		if m, ok := d.(T); ok {
			return m, true
		}
	}
	var zero T
	return zero, false
}

// Eventually polls cond every few milliseconds until it holds, failing the
// test if it does not within 10 seconds: a liveness guard, not a timing
// assertion.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
