package mapping

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping/mappingtest"
)

// TestEveryMessageHasADirectPlan: the generated model is read by the fast
// path; a regression to the wire path would only show as a slowdown.
func TestEveryMessageHasADirectPlan(t *testing.T) {
	for _, m := range []proto.Message{
		&smartassistv1.Conversation{}, &smartassistv1.Participant{}, &smartassistv1.UserInfo{},
		&smartassistv1.GetConversationResponse{},
	} {
		if _, ok := directFor(m); !ok {
			t.Errorf("%T has no direct plan", m)
		}
	}
}

// FuzzDirectMatchesWire holds the two decoding paths to one answer: the
// same message or the same error position, for every document without a
// repeated key (where the paths differ by design: last wins directly,
// protobuf merge semantics on the wire).
func FuzzDirectMatchesWire(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range paths {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"priority":"5","participants":[{"name":"a"},"b"],"x":1e400}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		direct, wire := &smartassistv1.Conversation{}, &smartassistv1.Conversation{}
		derr := Unmarshal(in, direct)
		werr := unmarshalWire(in, wire)
		if (derr == nil) != (werr == nil) {
			t.Fatalf("direct error %v, wire error %v", derr, werr)
		}
		if derr != nil {
			ds, _ := derr.(*SyntaxError)
			ws, _ := werr.(*SyntaxError)
			if ds == nil || ws == nil || ds.Offset != ws.Offset {
				t.Fatalf("direct error %v, wire error %v", derr, werr)
			}
			return
		}
		if mappingtest.HasRepeatedKey(in) {
			return
		}
		if !proto.Equal(direct, wire) {
			t.Fatalf("paths disagree on %q:\ndirect %v\nwire   %v", in, direct, wire)
		}
	})
}

// TestDynamicMessagesGoTheWirePath: a message without generated structs
// (dynamicpb) has no direct plan, and the wire path reads it to the same
// content as the direct path reads the generated type.
func TestDynamicMessagesGoTheWirePath(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "unknown_keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamicpb.NewMessage((&smartassistv1.Conversation{}).ProtoReflect().Descriptor())
	if _, ok := directFor(dyn); ok {
		t.Fatal("dynamicpb message got a direct plan")
	}
	if err := Unmarshal(in, dyn); err != nil {
		t.Fatal(err)
	}
	gen := &smartassistv1.Conversation{}
	if err := Unmarshal(in, gen); err != nil {
		t.Fatal(err)
	}
	opts := proto.MarshalOptions{Deterministic: true}
	a, err := opts.Marshal(dyn)
	if err != nil {
		t.Fatal(err)
	}
	b, err := opts.Marshal(gen)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("dynamic (wire path) and generated (direct path) messages differ")
	}
}
