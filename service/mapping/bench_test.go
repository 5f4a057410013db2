package mapping_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping/mappingtest"
)

// BenchmarkDecode measures the mapper beside two baselines on the same
// bytes: encoding/json into map[string]any (what a hand-rolled bridge would
// do first), and protojson into structpb.Struct (the untyped proto answer).
// Compare runs with benchstat.
func BenchmarkDecode(b *testing.B) {
	sample, err := os.ReadFile(filepath.Join("testdata", "sample.json"))
	if err != nil {
		b.Fatal(err)
	}
	docs := []struct {
		name string
		data []byte
	}{
		{"sample", sample},
		{"1MiB", mappingtest.LargeConversation(1 << 20)},
	}
	for _, doc := range docs {
		b.Run(doc.name+"/mapping", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc.data)))
			for b.Loop() {
				if _, err := mapping.Conversation(doc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(doc.name+"/json_map", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc.data)))
			for b.Loop() {
				var m map[string]any
				if err := json.Unmarshal(doc.data, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(doc.name+"/protojson_struct", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc.data)))
			for b.Loop() {
				var s structpb.Struct
				if err := protojson.Unmarshal(doc.data, &s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
