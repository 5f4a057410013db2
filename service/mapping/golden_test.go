package mapping_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping/mappingtest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the mapper's output")

// inputs returns the upstream documents under testdata, keyed by name.
func inputs(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	docs := map[string][]byte{}
	for _, p := range paths {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		docs[strings.TrimSuffix(filepath.Base(p), ".json")] = b
	}
	if len(docs) == 0 {
		tb.Fatal("no inputs in testdata")
	}
	return docs
}

// TestGolden maps every testdata input and compares the Connect JSON (what
// a browser client sees) with its golden file. Run with -update to accept
// a change, then review the diff.
func TestGolden(t *testing.T) {
	for name, in := range inputs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := mapping.Conversation(in)
			if err != nil {
				t.Fatalf("Conversation: %v", err)
			}
			got, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(c)
			if err != nil {
				t.Fatalf("protojson: %v", err)
			}
			// protojson randomizes its whitespace; normalize for a stable file.
			var norm bytes.Buffer
			if err := json.Indent(&norm, compact(t, got), "", "  "); err != nil {
				t.Fatal(err)
			}
			norm.WriteByte('\n')
			golden := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, norm.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), norm.String()); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func compact(tb testing.TB, b []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// TestLossless is the no-loss property on every input, and on a large
// generated conversation.
func TestLossless(t *testing.T) {
	docs := inputs(t)
	docs["generated_1MiB"] = mappingtest.LargeConversation(1 << 20)
	for name, in := range docs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := mapping.Conversation(in)
			if err != nil {
				t.Fatalf("Conversation: %v", err)
			}
			mappingtest.AssertLossless(t, in, c)
		})
	}
}
