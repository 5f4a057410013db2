package mapping_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping/mappingtest"
)

// FuzzDecode feeds the mapper arbitrary bytes, seeded with the testdata
// documents. For every input it must not panic, and:
//   - it accepts exactly the JSON objects encoding/json accepts (within the
//     limits, and given valid UTF-8, which encoding/json does not check);
//   - it fails only with a *SyntaxError or a *LimitError, in a short message;
//   - what it accepts marshals in both proto encodings;
//   - what it accepts is lossless, repeated keys included.
func FuzzDecode(f *testing.F) {
	for _, in := range inputs(f) {
		f.Add(in)
	}
	for _, s := range []string{`{}`, `[]`, `{"a":1e400}`, `{"priority":"5"}`, `{"_id":"\ud800"}`, `{"participants":[{},"x"]}`,
		`{"status":"A","status":"B","status#2":"C"}`, `{"x":{"a":1,"a":2}}`, `{"startTime":"2023-05-22T04:55:05,1234567891Z"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := mapping.Conversation(in)
		valid := json.Valid(in) && utf8.Valid(in) && strings.HasPrefix(strings.TrimLeft(string(in), " \t\r\n"), "{")
		if err != nil {
			var se *mapping.SyntaxError
			var le *mapping.LimitError
			switch {
			case errors.As(err, &le):
			case !errors.As(err, &se):
				t.Fatalf("error %T %v, want *mapping.SyntaxError or *mapping.LimitError", err, err)
			case valid:
				t.Fatalf("rejected valid JSON object: %v", err)
			}
			if len(err.Error()) > maxErrorLen {
				t.Fatalf("error of %d bytes: %.300s", len(err.Error()), err)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted invalid JSON %q", in)
		}
		if _, err := proto.Marshal(c); err != nil {
			t.Fatalf("proto.Marshal: %v", err)
		}
		if _, err := protojson.Marshal(c); err != nil {
			t.Fatalf("protojson.Marshal: %v", err)
		}
		mappingtest.AssertLossless(t, in, c)
	})
}
