package mapping_test

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping/mappingtest"
)

// maxErrorLen bounds every error message the mapper returns, whatever the
// input: the handler logs them whole.
const maxErrorLen = 256

// TestLimits: each limit rejects the first document over it, with a
// *LimitError naming it, and accepts one at it.
func TestLimits(t *testing.T) {
	t.Parallel()
	nested := func(levels int) string {
		return strings.Repeat(`{"a":`, levels-1) + "{}" + strings.Repeat("}", levels-1)
	}
	tests := []struct {
		name       string
		in         string
		limits     mapping.Limits
		wantLimit  string // "" for no error
		wantOffset int
	}{
		{"bytes at the limit", `{"a":1}`, mapping.Limits{MaxBytes: 7}, "", 0},
		{"bytes over the limit", `{"a":1}`, mapping.Limits{MaxBytes: 6}, "MaxBytes", 6},
		{"depth at the default", nested(mapping.DefaultMaxDepth), mapping.Limits{}, "", 0},
		{"depth over the default", nested(mapping.DefaultMaxDepth + 1), mapping.Limits{}, "MaxDepth", 5 * mapping.DefaultMaxDepth},
		{"depth over a chosen limit", `{"a":[[1]]}`, mapping.Limits{MaxDepth: 2}, "MaxDepth", 6},
		{"values at the limit", `{"a":[1,2,3]}`, mapping.Limits{MaxValues: 5}, "", 0},
		{"values over the limit", `{"a":[1,2,3]}`, mapping.Limits{MaxValues: 4}, "MaxValues", 10},
		{"keys are not values", `{"a":1,"b":2}`, mapping.Limits{MaxValues: 3}, "", 0},
		{"the limit counts what is not read into fields", `{"x":{"y":[null]}}`, mapping.Limits{MaxValues: 3}, "MaxValues", 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := mapping.ConversationWithLimits([]byte(tt.in), tt.limits)
			if tt.wantLimit == "" {
				if err != nil {
					t.Fatalf("ConversationWithLimits: %v", err)
				}
				return
			}
			var le *mapping.LimitError
			if !errors.As(err, &le) {
				t.Fatalf("error %T %v, want *mapping.LimitError", err, err)
			}
			if le.Limit != tt.wantLimit || le.Offset != tt.wantOffset {
				t.Errorf("got %s at offset %d, want %s at offset %d", le.Limit, le.Offset, tt.wantLimit, tt.wantOffset)
			}
			if !strings.Contains(err.Error(), tt.wantLimit) {
				t.Errorf("Error() = %q, want it to name %s", err, tt.wantLimit)
			}
		})
	}
}

// TestDefaultLimitsAdmitLargeConversations: a conversation with thousands
// of participants, transfers, queues and visited pages maps losslessly
// within the default limits.
func TestDefaultLimitsAdmitLargeConversations(t *testing.T) {
	t.Parallel()
	in := mappingtest.LargeConversation(4 << 20)
	c, err := mapping.Conversation(in)
	if err != nil {
		t.Fatalf("Conversation(%d bytes): %v", len(in), err)
	}
	if n := len(c.GetAgentDesktopMeta().GetPagesVisited()); n < 2000 || len(c.GetTransferDetails()) < 2000 {
		t.Fatalf("%d pages, %d transfers: want thousands", n, len(c.GetTransferDetails()))
	}
	mappingtest.AssertLossless(t, in, c)
}

// hostile returns SmartAssist-sized bodies (7.5 MiB, under the 8 MiB body
// cap) that cost gigabytes when decoded without a bound on values.
func hostile() map[string][]byte {
	return map[string][]byte{
		"3.9M zeros in formData":     array(`{"formData":[`, "0", 3_900_000),
		"2.5M {} in participants":    array(`{"participants":[`, "{}", 2_500_000),
		"2.5M {} in an unmapped key": array(`{"unknown":[`, "{}", 2_500_000),
	}
}

func array(head, elem string, n int) []byte {
	b := bytes.NewBufferString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(elem)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// TestHostileBodies: each hostile body fails with the MaxValues error, and
// allocates next to nothing doing so (the limit is enforced before any
// message is built). Not parallel: it counts the process's allocations.
func TestHostileBodies(t *testing.T) {
	for name, in := range hostile() {
		t.Run(name, func(t *testing.T) {
			var le *mapping.LimitError
			if _, err := mapping.Conversation(in); !errors.As(err, &le) || le.Limit != "MaxValues" {
				t.Fatalf("Conversation(%d bytes) error %v, want the MaxValues limit", len(in), err)
			}
			if allocs := testing.AllocsPerRun(3, func() { _, _ = mapping.Conversation(in) }); allocs > 20 {
				t.Errorf("%.0f allocations per rejection, want at most 20", allocs)
			}
			if n := allocated(func() { _, _ = mapping.Conversation(in) }); n > 64<<10 {
				t.Errorf("%d bytes allocated per rejection, want at most 64 KiB", n)
			}
		})
	}
}

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestErrorsAreBounded: a malformed document of 7.9 MiB with long keys
// nested deep fails with a short message, allocating in proportion to its
// longest escaped string (the scratch space it is unescaped into), not to
// its size or depth. Not parallel: it counts the process's allocations.
func TestErrorsAreBounded(t *testing.T) {
	key := strings.Repeat("k", 128<<10) + `\n`
	deep := strings.Repeat(`{"`+key+`":`, 60) + "tru" + strings.Repeat("}", 60)
	long := `{"` + strings.Repeat("x", 7_900_000) + `":[1,2,}`
	for name, in := range map[string][]byte{"deep long keys": []byte(deep), "one long key": []byte(long)} {
		t.Run(name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = mapping.Conversation(in) })
			var se *mapping.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v, want *mapping.SyntaxError", err, err)
			}
			if len(err.Error()) > maxErrorLen {
				t.Errorf("error of %d bytes, want at most %d: %.300s", len(err.Error()), maxErrorLen, err)
			}
			if !strings.Contains(se.Path, "…") || se.Line != 1 || se.Offset < len(in)-80 {
				t.Errorf("error %v: want a shortened path, line 1, an offset near the end", err)
			}
			if limit := uint64(3*len(key)) + 64<<10; n > limit {
				t.Errorf("%d bytes allocated, want at most %d", n, limit)
			}
		})
	}
}

// TestDynamicMessages: the decoder reads a dynamicpb message of a type to
// the same content as the generated type, through the same code.
func TestDynamicMessages(t *testing.T) {
	t.Parallel()
	for name, in := range inputs(t) {
		dyn := dynamicpb.NewMessage((&smartassistv1.Conversation{}).ProtoReflect().Descriptor())
		if err := mapping.Unmarshal(in, dyn); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		gen := &smartassistv1.Conversation{}
		if err := mapping.Unmarshal(in, gen); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		opts := proto.MarshalOptions{Deterministic: true}
		a, errA := opts.Marshal(dyn)
		b, errB := opts.Marshal(gen)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: dynamic and generated messages differ (%v, %v)", name, errA, errB)
		}
	}
}

// BenchmarkHostile measures how fast, and with how little memory, each
// hostile body is rejected.
func BenchmarkHostile(b *testing.B) {
	for name, in := range hostile() {
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := mapping.Conversation(in); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
