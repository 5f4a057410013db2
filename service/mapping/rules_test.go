package mapping_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping/mappingtest"
)

func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func unmapped(kv ...any) *structpb.Struct {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
}

func values(vs ...any) []*structpb.Value {
	var out []*structpb.Value
	for _, v := range vs {
		pv, err := structpb.NewValue(v)
		if err != nil {
			panic(err)
		}
		out = append(out, pv)
	}
	return out
}

// TestRules pins every representation rule of the contract in
// proto/smartassist/v1/conversation.proto, including each place where
// SmartAssist's field table and its sample response disagree.
func TestRules(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *smartassistv1.Conversation
	}{
		// Names: snake_case of the upstream key, leading underscores dropped.
		{"_id is id", `{"_id":"c-1"}`, &smartassistv1.Conversation{Id: "c-1"}},
		{"camelCase key", `{"orgId":"o-1","keyIntentUserInput":"hi"}`, &smartassistv1.Conversation{OrgId: "o-1", KeyIntentUserInput: "hi"}},
		{"__v is v", `{"__v":3}`, &smartassistv1.Conversation{V: proto.Int32(3)}},
		{"the table's integer id is the sample's string _id; a number is kept, not coerced", `{"_id":123}`,
			&smartassistv1.Conversation{Unmapped: unmapped("_id", 123.0)}},
		{"json name is not an upstream key", `{"id":"x"}`, &smartassistv1.Conversation{Unmapped: unmapped("id", "x")}},
		{"snake_case upstream key", `{"userInfo":{"agentTransferConfig":{"dialog_tone":["calm"],"lastIntentuserInput":"x"}}}`,
			&smartassistv1.Conversation{UserInfo: &smartassistv1.UserInfo{AgentTransferConfig: &smartassistv1.AgentTransferConfig{
				DialogTone: values("calm"), LastIntentuserInput: "x"}}}},

		// Instants.
		{"ISO-8601 UTC with ms", `{"startTime":"2023-05-22T04:55:05.351Z"}`, &smartassistv1.Conversation{StartTime: ts("2023-05-22T04:55:05.351Z")}},
		{"ISO-8601 with offset", `{"startTime":"2023-05-22T10:25:05+05:30"}`, &smartassistv1.Conversation{StartTime: ts("2023-05-22T04:55:05Z")}},
		{"ISO-8601 with ns", `{"startTime":"2023-05-22T04:55:05.123456789Z"}`, &smartassistv1.Conversation{StartTime: ts("2023-05-22T04:55:05.123456789Z")}},
		{"epoch ms", `{"timestampValue":1684731305351}`, &smartassistv1.Conversation{TimestampValue: ts("2023-05-22T04:55:05.351Z")}},
		{"epoch ms with a fraction", `{"timestampValue":1684731305351.5}`, &smartassistv1.Conversation{TimestampValue: ts("2023-05-22T04:55:05.3515Z")}},
		{"epoch ms before 1970", `{"timestampValue":-1}`, &smartassistv1.Conversation{TimestampValue: ts("1969-12-31T23:59:59.999Z")}},
		{"not an instant", `{"startTime":"yesterday"}`, &smartassistv1.Conversation{Unmapped: unmapped("startTime", "yesterday")}},
		{"no zone is not an instant", `{"startTime":"2023-05-22T04:55:05"}`, &smartassistv1.Conversation{Unmapped: unmapped("startTime", "2023-05-22T04:55:05")}},
		{"31 February", `{"startTime":"2023-02-31T00:00:00Z"}`, &smartassistv1.Conversation{Unmapped: unmapped("startTime", "2023-02-31T00:00:00Z")}},
		{"year 0 is out of Timestamp range", `{"startTime":"0000-12-31T23:59:59Z"}`, &smartassistv1.Conversation{Unmapped: unmapped("startTime", "0000-12-31T23:59:59Z")}},
		{"sub-nanosecond digits are kept verbatim", `{"startTime":"2023-05-22T04:55:05.0000000001Z"}`, &smartassistv1.Conversation{Unmapped: unmapped("startTime", "2023-05-22T04:55:05.0000000001Z")}},
		{"comma fraction", `{"startTime":"2023-05-22T04:55:05,351Z"}`, &smartassistv1.Conversation{StartTime: ts("2023-05-22T04:55:05.351Z")}},
		{"comma fraction with ns", `{"startTime":"2023-05-22T04:55:05,123456789+05:30"}`, &smartassistv1.Conversation{StartTime: ts("2023-05-21T23:25:05.123456789Z")}},
		{"comma fraction past ns kept verbatim", `{"startTime":"2023-05-22T04:55:05,1234567891Z"}`, &smartassistv1.Conversation{Unmapped: unmapped("startTime", "2023-05-22T04:55:05,1234567891Z")}},
		{"one-digit hour kept verbatim", `{"startTime":"2023-05-22T4:55:05.1234567891Z"}`, &smartassistv1.Conversation{Unmapped: unmapped("startTime", "2023-05-22T4:55:05.1234567891Z")}},
		{"ten fraction digits ending in 0 lose nothing", `{"startTime":"2023-05-22T04:55:05.1234567890Z"}`, &smartassistv1.Conversation{StartTime: ts("2023-05-22T04:55:05.123456789Z")}},

		// Millisecond amounts.
		{"waitTime ms", `{"waitTime":3369}`, &smartassistv1.Conversation{WaitTime: durationpb.New(3369 * time.Millisecond)}},
		{"waitTime as a string", `{"waitTime":"3369"}`, &smartassistv1.Conversation{WaitTime: durationpb.New(3369 * time.Millisecond)}},
		{"fractional ms exactly", `{"agentDesktopMeta":{"pagesVisited":[{"timespent":350312.351}]}}`,
			&smartassistv1.Conversation{AgentDesktopMeta: &smartassistv1.AgentDesktopMeta{PagesVisited: []*smartassistv1.PageVisit{{Timespent: &durationpb.Duration{Seconds: 350, Nanos: 312351000}}}}}},
		{"exponent ms", `{"waitTime":1.5e3}`, &smartassistv1.Conversation{WaitTime: durationpb.New(1500 * time.Millisecond)}},
		{"negative ms", `{"waitTime":-1.5}`, &smartassistv1.Conversation{WaitTime: &durationpb.Duration{Nanos: -1500000}}},
		{"sub-nanosecond ms kept verbatim", `{"waitTime":0.0000001}`, &smartassistv1.Conversation{Unmapped: unmapped("waitTime", 0.0000001)}},
		{"not a number", `{"waitTime":"soon"}`, &smartassistv1.Conversation{Unmapped: unmapped("waitTime", "soon")}},

		// Booleans: the table says boolean, the sample says "YES".
		{"YES", `{"surveyRequired":"YES"}`, &smartassistv1.Conversation{SurveyRequired: proto.Bool(true)}},
		{"no", `{"surveyRequired":"no"}`, &smartassistv1.Conversation{SurveyRequired: proto.Bool(false)}},
		{"Yes", `{"surveyRequired":"Yes"}`, &smartassistv1.Conversation{SurveyRequired: proto.Bool(true)}},
		{"true", `{"surveyRequired":true}`, &smartassistv1.Conversation{SurveyRequired: proto.Bool(true)}},
		{"false is kept, not dropped", `{"isDeveloper":false}`, &smartassistv1.Conversation{IsDeveloper: proto.Bool(false)}},
		{"\"false\"", `{"isDeveloper":"FALSE"}`, &smartassistv1.Conversation{IsDeveloper: proto.Bool(false)}},
		{"MAYBE", `{"surveyRequired":"MAYBE"}`, &smartassistv1.Conversation{Unmapped: unmapped("surveyRequired", "MAYBE")}},
		{"0 is not a boolean", `{"surveyRequired":0}`, &smartassistv1.Conversation{Unmapped: unmapped("surveyRequired", 0.0)}},

		// Priority: the table says string, the sample says 5.
		{"priority 5", `{"priority":5}`, &smartassistv1.Conversation{Priority: proto.Int32(5)}},
		{"priority \"5\"", `{"priority":"5"}`, &smartassistv1.Conversation{Priority: proto.Int32(5)}},
		{"priority 5.0", `{"priority":5.0}`, &smartassistv1.Conversation{Priority: proto.Int32(5)}},
		{"priority 0 is kept", `{"priority":0}`, &smartassistv1.Conversation{Priority: proto.Int32(0)}},
		{"priority -1", `{"priority":-1}`, &smartassistv1.Conversation{Priority: proto.Int32(-1)}},
		{"priority HIGH", `{"priority":"HIGH"}`, &smartassistv1.Conversation{Unmapped: unmapped("priority", "HIGH")}},
		{"priority 5.5", `{"priority":5.5}`, &smartassistv1.Conversation{Unmapped: unmapped("priority", 5.5)}},
		{"priority beyond int32", `{"priority":99999999999}`, &smartassistv1.Conversation{Unmapped: unmapped("priority", 99999999999.0)}},
		{"priority \" 5\"", `{"priority":" 5"}`, &smartassistv1.Conversation{Unmapped: unmapped("priority", " 5")}},

		// Vocabulary fields stay strings: a new value is never lost.
		{"new status", `{"status":"ESCALATED_TO_MARS"}`, &smartassistv1.Conversation{Status: "ESCALATED_TO_MARS"}},
		{"transfer priority word", `{"transferDetails":[{"priority":"HIGHEST"},{"priority":"LOW"}]}`,
			&smartassistv1.Conversation{TransferDetails: []*smartassistv1.TransferDetail{{Priority: "HIGHEST"}, {Priority: "LOW"}}}},
		{"a number in a string field", `{"source":7}`, &smartassistv1.Conversation{Unmapped: unmapped("source", 7.0)}},

		// Free arrays and null.
		{"free array", `{"contactFlow":[1,"a",{"x":null},[true]]}`,
			&smartassistv1.Conversation{ContactFlow: values(1.0, "a", map[string]any{"x": nil}, []any{true})}},
		{"null element kept in a free array", `{"contactFlow":[null]}`, &smartassistv1.Conversation{ContactFlow: values(nil)}},
		{"empty array", `{"skills":[]}`, &smartassistv1.Conversation{}},
		{"null is unset", `{"_id":null,"priority":null,"startTime":null,"userInfo":null,"queues":null}`, &smartassistv1.Conversation{}},
		{"dispositionSets null", `{"dispositions":{"status":"DROP-OFF","dispositionSets":null}}`,
			&smartassistv1.Conversation{Dispositions: &smartassistv1.Dispositions{Status: "DROP-OFF"}}},

		// Nothing is lost.
		{"unknown top-level key", `{"brandNew":{"a":[1,2]}}`, &smartassistv1.Conversation{Unmapped: unmapped("brandNew", map[string]any{"a": []any{1.0, 2.0}})}},
		{"unknown key with null", `{"gone":null}`, &smartassistv1.Conversation{Unmapped: unmapped("gone", nil)}},
		{"unknown nested key", `{"userInfo":{"workinghours":{"timezone":"IST"}}}`,
			&smartassistv1.Conversation{UserInfo: &smartassistv1.UserInfo{Workinghours: &smartassistv1.WorkingHours{Unmapped: unmapped("timezone", "IST")}}}},
		{"unknown key in an array element", `{"queues":[{"id":"q","sla":30}]}`,
			&smartassistv1.Conversation{Queues: []*smartassistv1.ConversationQueue{{Id: "q", Unmapped: unmapped("sla", 30.0)}}}},
		{"integer beyond a double kept as text", `{"big":12345678901234567890}`, &smartassistv1.Conversation{Unmapped: unmapped("big", "12345678901234567890")}},
		{"integer that is a double stays a number", `{"big":4611686018427387904}`, &smartassistv1.Conversation{Unmapped: unmapped("big", 4611686018427387904.0)}},
		{"overflow kept as text", `{"huge":1e400}`, &smartassistv1.Conversation{Unmapped: unmapped("huge", "1e400")}},
		{"underflow kept as text", `{"tiny":1e-400}`, &smartassistv1.Conversation{Unmapped: unmapped("tiny", "1e-400")}},
		{"an array with a bad element is kept whole", `{"participants":[{"name":"a"},"b"]}`,
			&smartassistv1.Conversation{Unmapped: unmapped("participants", []any{map[string]any{"name": "a"}, "b"})}},
		{"an object where an array belongs", `{"queues":{"id":"q"}}`, &smartassistv1.Conversation{Unmapped: unmapped("queues", map[string]any{"id": "q"})}},
		{"an array where an object belongs", `{"userInfo":[1]}`, &smartassistv1.Conversation{Unmapped: unmapped("userInfo", []any{1.0})}},
		{"a repeated string with a number", `{"userInfo":{"agentTransferConfig":{"skillsIds":["a",1]}}}`,
			&smartassistv1.Conversation{UserInfo: &smartassistv1.UserInfo{AgentTransferConfig: &smartassistv1.AgentTransferConfig{Unmapped: unmapped("skillsIds", []any{"a", 1.0})}}}},
		{"double field", `{"sentimentTone":{"strength":0.75,"sentiment":"positive","emoji":"🙂"}}`,
			&smartassistv1.Conversation{SentimentTone: &smartassistv1.SentimentTone{Strength: proto.Float64(0.75), Sentiment: "positive", Emoji: "🙂"}}},
		{"double field keeps an inexact integer verbatim", `{"sentimentTone":{"strength":12345678901234567890}}`,
			&smartassistv1.Conversation{SentimentTone: &smartassistv1.SentimentTone{Unmapped: unmapped("strength", "12345678901234567890")}}},

		// Strings.
		{"escapes", `{"dispositions":{"remarks":"a\"b\\c\/d\n\t\u00e9\ud83d\ude00"}}`,
			&smartassistv1.Conversation{Dispositions: &smartassistv1.Dispositions{Remarks: "a\"b\\c/d\n\té😀"}}},
		{"lone surrogate becomes U+FFFD", `{"_id":"\ud800x"}`, &smartassistv1.Conversation{Id: "\uFFFDx"}},
		{"escaped key", `{"\u006frgId":"o"}`, &smartassistv1.Conversation{OrgId: "o"}},

		// Repeated keys: the first fills the field, every later one is kept
		// under key#n.
		{"repeated key", `{"status":"A","status":"B"}`, &smartassistv1.Conversation{Status: "A", Unmapped: unmapped("status#2", "B")}},
		{"repeated key, three times", `{"x":1,"x":2,"x":3}`, &smartassistv1.Conversation{Unmapped: unmapped("x", 1.0, "x#2", 2.0, "x#3", 3.0)}},
		{"repeated key after a null", `{"priority":null,"priority":5}`, &smartassistv1.Conversation{Unmapped: unmapped("priority#2", 5.0)}},
		{"repeated key after a misfit", `{"priority":"HIGH","priority":5}`, &smartassistv1.Conversation{Unmapped: unmapped("priority", "HIGH", "priority#2", 5.0)}},
		{"repeated key colliding with a literal key#2", `{"status":"A","status#2":"L","status":"B"}`,
			&smartassistv1.Conversation{Status: "A", Unmapped: unmapped("status#2", "L", "status#3", "B")}},
		{"literal key#2 after the repeat", `{"x":1,"x":2,"x#2":3}`, &smartassistv1.Conversation{Unmapped: unmapped("x", 1.0, "x#2", 2.0, "x#2#2", 3.0)}},
		{"repeated message key", `{"userInfo":{"_id":"a"},"userInfo":{"_id":"b"}}`,
			&smartassistv1.Conversation{UserInfo: &smartassistv1.UserInfo{Id: "a"}, Unmapped: unmapped("userInfo#2", map[string]any{"_id": "b"})}},
		{"repeated key in a nested message", `{"queues":[{"id":"q","id":"r"}]}`,
			&smartassistv1.Conversation{Queues: []*smartassistv1.ConversationQueue{{Id: "q", Unmapped: unmapped("id#2", "r")}}}},
		{"repeated key in a kept object", `{"x":{"a":1,"a":2}}`, &smartassistv1.Conversation{Unmapped: unmapped("x", map[string]any{"a": 1.0, "a#2": 2.0})}},
		{"repeated key in a free array", `{"contactFlow":[{"a":1,"a":null}]}`, &smartassistv1.Conversation{ContactFlow: values(map[string]any{"a": 1.0, "a#2": nil})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := mapping.Conversation([]byte(tt.in))
			if err != nil {
				t.Fatalf("Conversation(%s): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Conversation(%s) mismatch (-want +got):\n%s", tt.in, diff)
			}
			mappingtest.AssertLossless(t, []byte(tt.in), got)
		})
	}
}

// TestSyntaxErrors: malformed JSON is an error that says where.
func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantMsg    string
		wantOffset int
		wantPath   string
	}{
		{"empty", ``, "empty document", 0, ""},
		{"blank", "  \n", "empty document", 3, ""},
		{"array at top", `[1]`, "top-level value is an array, want a JSON object", 0, ""},
		{"string at top", `"x"`, "top-level value is a string", 0, ""},
		{"missing value", `{"a":}`, "expected a JSON value, found \"}\"", 5, "$.a"},
		{"unterminated object", `{"_id":"x"`, "expected ',' or \"}\", found end of input", 10, ""},
		{"bad literal deep", `{"userInfo":{"identities":[{"val":tru}]}}`, "invalid literal", 34, "$.userInfo.identities[0]"},
		{"bad literal in a bool", `{"isDeveloper":fals}`, "invalid literal", 15, "$.isDeveloper"},
		{"trailing data", `{} x`, "unexpected \"x\" after the top-level object", 3, ""},
		{"two objects", `{}{}`, "after the top-level object", 2, ""},
		{"NUL after the object", "{}\x00", "unexpected byte 0x00 after the top-level object", 2, ""},
		{"NUL document", "\x00", "top-level value is an invalid value", 0, ""},
		{"control character", "{\"a\":\"x\ny\"}", "control character 0x0a in string", 7, "$.a"},
		{"bad escape", `{"a":"\q"}`, "invalid escape", 6, "$.a"},
		{"bad unicode escape", `{"a":"\u12"}`, "invalid \\u escape", 6, "$.a"},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", "invalid UTF-8", 6, "$.a"},
		{"leading zero", `{"a":01}`, "expected ',' or", 6, ""},
		{"bare minus", `{"a":-}`, "invalid number", 6, "$.a"},
		{"missing colon", `{"a" 1}`, "expected ':' after object key", 5, ""},
		{"unquoted key", `{a:1}`, "expected object key", 1, ""},
		{"trailing comma", `{"a":1,}`, "expected object key", 7, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := mapping.Conversation([]byte(tt.in))
			if err == nil {
				t.Fatalf("Conversation(%q) = %v, want an error", tt.in, got)
			}
			var se *mapping.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v, want *mapping.SyntaxError", err, err)
			}
			if !strings.Contains(se.Msg, tt.wantMsg) {
				t.Errorf("message %q, want it to contain %q", se.Msg, tt.wantMsg)
			}
			if se.Offset != tt.wantOffset {
				t.Errorf("offset %d, want %d (%v)", se.Offset, tt.wantOffset, err)
			}
			if tt.wantPath != "" && !strings.HasPrefix(se.Path, tt.wantPath) {
				t.Errorf("path %q, want prefix %q", se.Path, tt.wantPath)
			}
			if !strings.Contains(err.Error(), "offset") {
				t.Errorf("Error() = %q, want it to say where", err)
			}
		})
	}
}

// TestReset: Unmarshal replaces what the message held.
func TestReset(t *testing.T) {
	t.Parallel()
	c := &smartassistv1.Conversation{Id: "old", Status: "OPEN"}
	if err := mapping.Unmarshal([]byte(`{"_id":"new"}`), c); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&smartassistv1.Conversation{Id: "new"}, c, protocmp.Transform()); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}
