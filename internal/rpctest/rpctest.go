// Package rpctest holds the small helpers several packages' tests share:
// a log sink safe for concurrent use, and the lookup of an error detail.
package rpctest

import (
	"bytes"
	"sync"

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
