package mappingtest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping/mappingtest"
)

// conv builds the Conversation a mapper might return from its Connect JSON
// form, which reads far better in a table than nested struct literals and
// does not depend on the Go types of optional integers.
func conv(connectJSON string) *smartassistv1.Conversation {
	m := new(smartassistv1.Conversation)
	if err := protojson.Unmarshal([]byte(connectJSON), m); err != nil {
		panic(fmt.Sprintf("bad test message %s: %v", connectJSON, err))
	}
	return m
}

// paths returns the path of each line of Lost, the part before ": ".
func paths(lines []string) []string {
	var out []string
	for _, line := range lines {
		path, _, _ := strings.Cut(line, ": ")
		out = append(out, path)
	}
	return out
}

func TestLost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		msg   proto.Message
		want  []string // paths of the lines Lost reports; none means lossless
	}{
		// Strings and upstream keys.
		{
			name:  "strings carried",
			input: `{"_id": "c-1", "source": "rtm"}`,
			msg:   conv(`{"id": "c-1", "source": "rtm"}`),
		},
		{
			name:  "dropped string field",
			input: `{"_id": "c-1", "source": "rtm"}`,
			msg:   conv(`{"id": "c-1"}`),
			want:  []string{"$.source"},
		},
		{
			name:  "changed string field",
			input: `{"source": "rtm"}`,
			msg:   conv(`{"source": "RTM"}`),
			want:  []string{"$.source"},
		},
		{
			name:  "upstream key, not JSON name, selects the field",
			input: `{"_id": "c-1", "id": 42}`,
			msg:   conv(`{"id": "c-1", "unmapped": {"id": 42}}`),
		},
		{
			name:  "key stored under the field's JSON name only",
			input: `{"_id": "c-1"}`,
			msg:   conv(`{"unmapped": {"id": "c-1"}}`),
			want:  []string{"$._id"},
		},
		{
			name:  "number in a string field kept",
			input: `{"source": 7}`,
			msg:   conv(`{"unmapped": {"source": 7}}`),
		},
		{
			name:  "number in a string field stringified",
			input: `{"source": 7}`,
			msg:   conv(`{"source": "7"}`),
			want:  []string{"$.source"},
		},
		// Bools.
		{
			name:  "YES read as true",
			input: `{"surveyRequired": "YES", "isDeveloper": false, "userInfo": {"agentTransferConfig": {"overrideAgents": "no"}}}`,
			msg:   conv(`{"surveyRequired": true, "isDeveloper": false, "userInfo": {"agentTransferConfig": {"overrideAgents": false}}}`),
		},
		{
			name:  "YES read as false",
			input: `{"surveyRequired": "YES"}`,
			msg:   conv(`{"surveyRequired": false}`),
			want:  []string{"$.surveyRequired"},
		},
		{
			name:  "false dropped from an optional bool",
			input: `{"callbackOpted": false}`,
			msg:   conv(`{}`),
			want:  []string{"$.callbackOpted"},
		},
		{
			name:  "MAYBE kept",
			input: `{"surveyRequired": "MAYBE", "isDeveloper": "0"}`,
			msg:   conv(`{"unmapped": {"surveyRequired": "MAYBE", "isDeveloper": "0"}}`),
		},
		{
			name:  "MAYBE guessed",
			input: `{"surveyRequired": "MAYBE", "isDeveloper": "0"}`,
			msg:   conv(`{"surveyRequired": true, "isDeveloper": false}`),
			want:  []string{"$.surveyRequired", "$.isDeveloper"}, // document order
		},
		// Integers.
		{
			name:  "priority from a number and __v",
			input: `{"priority": 5, "__v": 0}`,
			msg:   conv(`{"priority": 5, "v": 0}`),
		},
		{
			name:  "priority from a decimal string",
			input: `{"priority": "5"}`,
			msg:   conv(`{"priority": 5}`),
		},
		{
			name:  "changed number",
			input: `{"priority": 5}`,
			msg:   conv(`{"priority": 4}`),
			want:  []string{"$.priority"},
		},
		{
			name:  "HIGH kept",
			input: `{"priority": "HIGH"}`,
			msg:   conv(`{"unmapped": {"priority": "HIGH"}}`),
		},
		{
			name:  "fraction truncated into an int field",
			input: `{"priority": 5.5}`,
			msg:   conv(`{"priority": 5}`),
			want:  []string{"$.priority"},
		},
		{
			name:  "fraction kept",
			input: `{"priority": 5.5}`,
			msg:   conv(`{"unmapped": {"priority": 5.5}}`),
		},
		{
			name:  "int32 overflow wrapped",
			input: `{"priority": 99999999999}`,
			msg:   conv(`{"priority": 1215752191}`), // 99999999999 mod 2^32
			want:  []string{"$.priority"},
		},
		{
			name:  "int32 overflow kept",
			input: `{"priority": 99999999999}`,
			msg:   conv(`{"unmapped": {"priority": 99999999999}}`),
		},
		{
			name:  "upstream v is not __v",
			input: `{"v": 3}`,
			msg:   conv(`{"v": 3}`),
			want:  []string{"$.v"},
		},
		// Instants.
		{
			name:  "epoch ms timestampValue",
			input: `{"timestampValue": 1684731305351}`,
			msg:   conv(`{"timestampValue": "2023-05-22T04:55:05.351Z"}`),
		},
		{
			name:  "epoch ms off by one",
			input: `{"timestampValue": 1684731305351}`,
			msg:   conv(`{"timestampValue": "2023-05-22T04:55:05.350Z"}`),
			want:  []string{"$.timestampValue"},
		},
		{
			name:  "wrong instant",
			input: `{"startTime": "2023-05-22T04:55:05.351Z"}`,
			msg:   conv(`{"startTime": "2023-05-22T04:55:05.350Z"}`),
			want:  []string{"$.startTime"},
		},
		{
			name:  "offset instant compared as an instant",
			input: `{"endTime": "2023-05-22T10:59:14.086+05:30"}`,
			msg:   conv(`{"endTime": "2023-05-22T05:29:14.086Z"}`),
		},
		{
			name:  "sub-nanosecond instant truncated",
			input: `{"updatedAt": "2023-05-22T05:29:24.067000000001Z"}`,
			msg:   conv(`{"updatedAt": "2023-05-22T05:29:24.067Z"}`),
			want:  []string{"$.updatedAt"},
		},
		{
			name:  "zone-less time read as UTC",
			input: `{"createdAt": "2023-05-22T04:55:05.354"}`,
			msg:   conv(`{"createdAt": "2023-05-22T04:55:05.354Z"}`),
			want:  []string{"$.createdAt"},
		},
		{
			name:  "non-ISO time kept",
			input: `{"startTime": "yesterday"}`,
			msg:   conv(`{"unmapped": {"startTime": "yesterday"}}`),
		},
		{
			name:  "invalid Timestamp",
			input: `{"startTime": "0000-12-31T23:59:59Z"}`,
			msg:   &smartassistv1.Conversation{StartTime: &timestamppb.Timestamp{Seconds: -62135596801}},
			want:  []string{"$.startTime"},
		},
		// Durations.
		{
			name:  "fractional ms duration",
			input: `{"waitTime": 3369, "agentDesktopMeta": {"pagesVisited": [{"timespent": 350312.351}]}}`,
			msg:   conv(`{"waitTime": "3.369s", "agentDesktopMeta": {"pagesVisited": [{"timespent": "350.312351s"}]}}`),
		},
		{
			name:  "duration off by 1ns",
			input: `{"agentDesktopMeta": {"pagesVisited": [{"timespent": 350312.351}]}}`,
			msg:   conv(`{"agentDesktopMeta": {"pagesVisited": [{"timespent": "350.312351001s"}]}}`),
			want:  []string{"$.agentDesktopMeta.pagesVisited[0].timespent"},
		},
		{
			name:  "numeric-string duration",
			input: `{"waitTime": "3369"}`,
			msg:   conv(`{"waitTime": "3.369s"}`),
		},
		{
			name:  "sub-nanosecond ms rounded into a duration",
			input: `{"agentDesktopMeta": {"pagesVisited": [{"timespent": 350312.351000000001}]}}`,
			msg:   conv(`{"agentDesktopMeta": {"pagesVisited": [{"timespent": "350.312351s"}]}}`),
			want:  []string{"$.agentDesktopMeta.pagesVisited[0].timespent"},
		},
		{
			name:  "sub-nanosecond ms kept as the contract's number",
			input: `{"agentDesktopMeta": {"pagesVisited": [{"timespent": 350312.351000000001}]}}`,
			msg:   conv(`{"agentDesktopMeta": {"pagesVisited": [{"unmapped": {"timespent": 350312.351}}]}}`),
		},
		{
			name:  "word in a duration field kept",
			input: `{"waitTime": "soon"}`,
			msg:   conv(`{"unmapped": {"waitTime": "soon"}}`),
		},
		// Doubles.
		{
			name:  "double carried",
			input: `{"sentimentTone": {"strength": 0.82}}`,
			msg:   conv(`{"sentimentTone": {"strength": 0.82}}`),
		},
		{
			name:  "word read as a zero double",
			input: `{"sentimentTone": {"strength": "high"}}`,
			msg:   conv(`{"sentimentTone": {"strength": 0}}`),
			want:  []string{"$.sentimentTone.strength"},
		},
		// Unknown keys and the number rule.
		{
			name:  "missing unknown key",
			input: `{"foo": {"bar": 1}}`,
			msg:   conv(`{}`),
			want:  []string{"$.foo"},
		},
		{
			name:  "unknown object partly kept",
			input: `{"foo": {"bar": 1, "baz": [true], "qux": null}}`,
			msg:   conv(`{"unmapped": {"foo": {"bar": 1}}}`),
			want:  []string{"$.foo.baz", "$.foo.qux"},
		},
		{
			name:  "unknown keys in nested messages and array elements",
			input: `{"userInfo": {"locale": "hi-IN", "identities": [{"val": "x", "verified": true}]}}`,
			msg:   conv(`{"userInfo": {"unmapped": {"locale": "hi-IN"}, "identities": [{"val": "x", "unmapped": {"verified": true}}]}}`),
		},
		{
			name:  "huge integer stored as a rounded number",
			input: `{"big": 12345678901234567890}`,
			msg:   conv(`{"unmapped": {"big": 12345678901234567890}}`),
			want:  []string{"$.big"},
		},
		{
			name:  "huge integer kept as text",
			input: `{"big": 12345678901234567890, "inexact": 9007199254740993, "safe": 9007199254740992, "inf": 1e400, "tiny": 1e-400, "zero": 0e-400}`,
			msg:   conv(`{"unmapped": {"big": "12345678901234567890", "inexact": "9007199254740993", "safe": 9007199254740992, "inf": "1e400", "tiny": "1e-400", "zero": 0}}`),
		},
		{
			name:  "overflowing literal as a number",
			input: `{"inf": 1e400, "tiny": 1e-400}`,
			msg:   conv(`{"unmapped": {"inf": 1.7976931348623157e308, "tiny": 0}}`),
			want:  []string{"$.inf", "$.tiny"},
		},
		{
			name:  "number kept as text although a float64 holds it",
			input: `{"n": 1.5}`,
			msg:   conv(`{"unmapped": {"n": "1.5"}}`),
			want:  []string{"$.n"},
		},
		{
			name:  "key named like the catch-all",
			input: `{"unmapped": {"x": 1}}`,
			msg:   conv(`{"unmapped": {"unmapped": {"x": 1}}}`),
		},
		{
			name:  "keys that are not identifiers",
			input: `{"a.b": 1, "": 2, "名前": 3}`,
			msg:   conv(`{}`),
			want:  []string{`$["a.b"]`, `$[""]`, `$["名前"]`},
		},
		// Arrays.
		{
			name:  "array element missing",
			input: `{"participants": [{"name": "a"}, {"name": "b"}]}`,
			msg:   conv(`{"participants": [{"name": "a"}]}`),
			want:  []string{"$.participants[1]"},
		},
		{
			name:  "Value array element missing",
			input: `{"contactFlow": [1, {"step": null}]}`,
			msg:   conv(`{"contactFlow": [1]}`),
			want:  []string{"$.contactFlow[1]"},
		},
		{
			name:  "Value array with null elements",
			input: `{"contactFlow": [null, {"step": null}]}`,
			msg:   conv(`{"contactFlow": [null, {"step": null}]}`),
		},
		{
			name:  "array with a bad element kept whole",
			input: `{"participants": [{"name": "a"}, "u-1"]}`,
			msg:   conv(`{"unmapped": {"participants": [{"name": "a"}, "u-1"]}}`),
		},
		{
			name:  "array with a bad element mapped in part",
			input: `{"participants": [{"name": "a"}, "u-1"]}`,
			msg:   conv(`{"participants": [{"name": "a"}]}`),
			want:  []string{"$.participants[1]"},
		},
		{
			name:  "null element dropped from an array of objects",
			input: `{"queues": [null, {"id": "qu-1"}]}`,
			msg:   conv(`{"queues": [{"id": "qu-1"}]}`),
			want:  []string{"$.queues[0]", "$.queues[1]"},
		},
		{
			name:  "object where an array is expected kept",
			input: `{"transferDetails": {"fromQueue": "qu-1"}}`,
			msg:   conv(`{"unmapped": {"transferDetails": {"fromQueue": "qu-1"}}}`),
		},
		{
			name:  "nested leaf dropped",
			input: `{"userInfo": {"identities": [{"val": "x", "type": "mapped"}]}}`,
			msg:   conv(`{"userInfo": {"identities": [{"type": "mapped"}]}}`),
			want:  []string{"$.userInfo.identities[0].val"},
		},
		// Nulls and zero values.
		{
			name:  "nulls of fields need nothing",
			input: `{"source": null, "priority": null, "waitTime": null, "participants": null, "userInfo": null, "dispositions": {"dispositionSets": null}}`,
			msg:   conv(`{"dispositions": {}}`),
		},
		{
			name:  "an unknown key's null is held",
			input: `{"legacy": null, "gone": null}`,
			msg:   conv(`{"unmapped": {"legacy": null, "gone": 1}}`),
			want:  []string{"$.gone"},
		},
		// Repeated keys.
		{
			name:  "repeated key held under key#2",
			input: `{"status": "A", "status": "B"}`,
			msg:   conv(`{"status": "A", "unmapped": {"status#2": "B"}}`),
		},
		{
			name:  "repeated key lost",
			input: `{"status": "A", "status": "B"}`,
			msg:   conv(`{"status": "B"}`),
			want:  []string{"$.status", "$.status"},
		},
		{
			name:  "repeated key held under its plain name",
			input: `{"status": "A", "status": "B"}`,
			msg:   conv(`{"status": "A", "unmapped": {"status": "B"}}`),
			want:  []string{"$.status"},
		},
		{
			name:  "the first occurrence fills the field, not a later one",
			input: `{"priority": null, "priority": 5}`,
			msg:   conv(`{"priority": 5}`),
			want:  []string{"$.priority"},
		},
		{
			name:  "names skip what a literal key took",
			input: `{"x": 1, "x#2": 2, "x": 3, "x#2": 4}`,
			msg:   conv(`{"unmapped": {"x": 1, "x#2": 2, "x#3": 3, "x#2#2": 4}}`),
		},
		{
			name:  "repeated key in a held object",
			input: `{"contactFlow": [{"a": 1, "a": 2}], "x": {"b": 1, "b": null}}`,
			msg:   conv(`{"contactFlow": [{"a": 1, "a#2": 2}], "unmapped": {"x": {"b": 1, "b#2": null}}}`),
		},
		{
			name:  "repeated key in a held object lost",
			input: `{"x": {"b": 1, "b": 2}}`,
			msg:   conv(`{"unmapped": {"x": {"b": 2}}}`),
			want:  []string{"$.x.b", "$.x.b"},
		},
		{
			name:  "empty strings and arrays need nothing",
			input: `{"contactFlow": [], "userInfo": {"jTitle": "", "identities": [], "agentTransferConfig": {"skillsIds": []}}}`,
			msg:   conv(`{"userInfo": {"agentTransferConfig": {}}}`),
		},
		{
			name:  "empty object needs its message",
			input: `{"agentDesktopMeta": {}}`,
			msg:   conv(`{}`),
			want:  []string{"$.agentDesktopMeta"},
		},
		// Input that is not one JSON object.
		{
			name:  "not JSON",
			input: `{"_id":`,
			msg:   conv(`{}`),
			want:  []string{"$"},
		},
		{
			name:  "two JSON values",
			input: `{} {}`,
			msg:   conv(`{}`),
			want:  []string{"$"},
		},
		{
			name:  "array at the top",
			input: `[{"_id": "c-1"}]`,
			msg:   conv(`{}`),
			want:  []string{"$"},
		},
		{
			name:  "null at the top",
			input: `null`,
			msg:   conv(`{}`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lost := mappingtest.Lost([]byte(tt.input), tt.msg)
			if got := paths(lost); !slices.Equal(got, tt.want) {
				t.Errorf("Lost(%s) paths = %q, want %q; lines:\n%s", tt.input, got, tt.want, strings.Join(lost, "\n"))
			}
		})
	}
}

// sampleConversation is the documented sample response as the contract maps
// it, written out by hand.
func sampleConversation() *smartassistv1.Conversation {
	return conv(`{
		"id": "c-3c04346-e522-4c53-9e03-c9566d859aad",
		"orgId": "o-ca23f4c5-cc3e-586d-90e6-8375bf2d54ab",
		"userId": "u-aa15c0f4-7f78-5912-8713-f5cd1c3e476e",
		"accountId": "637368b4a1d039e34ba63bbf",
		"botId": "st-3bf09bef-f979-5489-b337-f465bd5db1f4",
		"source": "rtm",
		"botSessionId": "646af57bcc41e5bfbd5efb82",
		"language": "en",
		"keyIntentName": "TalkToAgent",
		"keyIntentUserInput": "I want to talk to an agent",
		"conversationType": "messaging",
		"priority": 5,
		"status": "CLOSED",
		"waitTime": "3.369s",
		"callbackOpted": false,
		"surveyRequired": true,
		"isDeveloper": false,
		"isProactiveAgentAssistEnabled": true,
		"startTime": "2023-05-22T04:55:05.351Z",
		"endTime": "2023-05-22T05:29:14.086Z",
		"timestampValue": "2023-05-22T04:55:05.351Z",
		"createdAt": "2023-05-22T04:55:05.354Z",
		"updatedAt": "2023-05-22T05:29:24.067Z",
		"acceptedAt": "2023-05-22T04:55:07.718Z",
		"v": 0,
		"participants": [{
			"queueId": "qu-241a4d7-e5d0-45a9-8032-8238450501c2",
			"queueStartTime": "2023-05-22T04:55:05.350Z",
			"queueName": "Default Queue",
			"agentId": "u-b19cd89e-6533-59af-b491-eec9bf8f8b9f",
			"name": "John Doe",
			"status": "INACTIVE",
			"assignedAt": "2023-05-22T04:55:05.452Z",
			"startTimeStamp": "2023-05-22T04:55:07.718Z",
			"endTimeStamp": "2023-05-22T05:29:14.043Z",
			"isTransferred": false,
			"onInterrupt": true
		}],
		"transferDetails": [{
			"fromQueue": "qu-241a4d7-e5d0-45a9-8032-8238450501c2",
			"fromAgent": "u-b19cd89e-6533-59af-b491-eec9bf8f8b9f",
			"transferredType": "QUEUE",
			"transferredTo": [{"id": "qu-241a4d7-e5d0-45a9-8032-8238450501c2", "name": "Default Queue", "type": "QUEUE"}],
			"transferredBy": "u-b19cd89e-6533-59af-b491-eec9bf8f8b9f",
			"priority": "HIGHEST",
			"transferredAt": "2023-05-22T05:29:14.007Z",
			"isManager": false
		}],
		"queues": [
			{"type": "ASSIGNED", "status": "INACTIVE", "isPreferredAgentTimeoutExpired": true, "id": "qu-241a4d7-e5d0-45a9-8032-8238450501c2", "name": "Default Queue", "startTime": "2023-05-22T04:55:05.350Z"},
			{"type": "TRANSFERRED", "status": "ACTIVE", "isPreferredAgentTimeoutExpired": true, "id": "qu-241a4d7-e5d0-45a9-8032-8238450501c2", "name": "Default Queue", "startTime": "2023-05-22T05:29:14.007Z"}
		],
		"agentDesktopMeta": {"pagesVisited": [{"page": "Kore.ai Web Client", "timestamp": "2023-05-18T03:36:25.601Z", "timespent": "350.312351s"}]},
		"dispositions": {
			"metaStatus": "SYSTEM_DROP_OFF",
			"status": "DROP-OFF",
			"remarks": "I’m sorry. It seems like there are no agents that can help you at this time. Please reach out us a bit later."
		},
		"userInfo": {
			"workinghours": {"workdays": "mon,tue,wed,thu,fri", "workstart": "8:00 AM", "workend": "5:00 PM"},
			"profImage": "no-avatar",
			"profColour": "#ff4500",
			"activationStatus": "active",
			"orgId": "o-e31a1a45-c24a-5074-b4b7-d44396e6e4ac",
			"id": "u-aa15c0f4-7f78-5912-8713-f5cd1c3e476e",
			"identities": [{"val": "cs-b6296994-21c9-5108-9dee-1ab3dbbd0b8b/dc5680b0-a4a4-4ed1-afe7-fa77bda4f1586736bed4-850f-41cf-8baf-2eb8857490ce", "type": "mapped"}],
			"agentTransferConfig": {
				"overrideAgents": false,
				"assistEvents": {"startEvent": {
					"isEnabled": true,
					"botId": "st-ba0fcf10-b687-53b0-ad16-16cbacf20dd1",
					"dialogId": "dg-dea45cdd-c731-522e-a1dd-f5d5aacc5f39",
					"dialogRefId": "6f3688aa-f41b-5d6e-8444-e27c6c225634"
				}},
				"automationBotId": "st-ba0fcf10-b687-53b0-ad16-16cbacf20dd1",
				"lastIntentName": "TalkToAgent",
				"lastIntentuserInput": "I want to talk to an agent"
			},
			"city": "Raha Gaon",
			"country": "India",
			"isp": "Bharti Airtel Ltd. AS for GPRS Service",
			"ipAddress": "106.203.156.168",
			"queue": "qu-241a4d7-e5d0-45a9-8032-8238450501c2",
			"hostDomain": "https://bots.kore.ai",
			"os": "Windows",
			"device": "NA"
		}
	}`)
}

func readSample(tb testing.TB) []byte {
	tb.Helper()
	input, err := os.ReadFile(filepath.Join("..", "testdata", "sample.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return input
}

// TestLostSample checks the documented sample against its hand-mapped
// message, then that removing any one populated field anywhere in that
// message is reported: every leaf of the sample is really checked.
func TestLostSample(t *testing.T) {
	t.Parallel()
	input := readSample(t)
	want := sampleConversation()
	if lost := mappingtest.Lost(input, want); len(lost) > 0 {
		t.Fatalf("Lost(sample, hand-mapped sample) = \n%s", strings.Join(lost, "\n"))
	}

	var cleared int
	forEachField(want.ProtoReflect(), nil, func(p fieldPath) {
		cleared++
		m := proto.Clone(want)
		p.clear(m.ProtoReflect())
		if lost := mappingtest.Lost(input, m); len(lost) == 0 {
			t.Errorf("clearing %s is not reported", p)
		}
	})
	// The hand-mapped sample populates 103 fields, nested ones included;
	// another count means the walk above skipped some.
	if cleared != 103 {
		t.Errorf("cleared %d fields, want 103", cleared)
	}
}

// fieldPath leads from a root message to one field: through singular message
// fields (index -1) and elements of repeated ones.
type fieldPath []fieldStep

type fieldStep struct {
	fd    protoreflect.FieldDescriptor
	index int
}

func (p fieldPath) String() string {
	var b strings.Builder
	for _, s := range p {
		b.WriteString("." + string(s.fd.Name()))
		if s.index >= 0 {
			fmt.Fprintf(&b, "[%d]", s.index)
		}
	}
	return b.String()
}

func (p fieldPath) clear(m protoreflect.Message) {
	for _, s := range p[:len(p)-1] {
		if s.index >= 0 {
			m = m.Mutable(s.fd).List().Get(s.index).Message()
		} else {
			m = m.Mutable(s.fd).Message()
		}
	}
	m.Clear(p[len(p)-1].fd)
}

// forEachField calls visit with the path of every populated field under m,
// descending into messages that mirror upstream objects (not into
// Timestamps, Durations or Structs, whose fields are not upstream keys).
func forEachField(m protoreflect.Message, prefix fieldPath, visit func(fieldPath)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		visit(append(slices.Clone(prefix), fieldStep{fd: fd, index: -1}))
		if fd.Message() == nil || fd.Message().FullName().Parent() == "google.protobuf" || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			for i := range v.List().Len() {
				forEachField(v.List().Get(i).Message(), append(slices.Clone(prefix), fieldStep{fd: fd, index: i}), visit)
			}
			return true
		}
		forEachField(v.Message(), append(slices.Clone(prefix), fieldStep{fd: fd, index: -1}), visit)
		return true
	})
}

// recorder is a testing.TB that keeps what AssertLossless reports instead of
// failing the test running it.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestAssertLossless(t *testing.T) {
	t.Parallel()
	manyUnknown := func(n int) []byte {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf(`"k%02d": %d`, i, i)
		}
		return []byte("{" + strings.Join(keys, ", ") + "}")
	}
	tests := []struct {
		name      string
		input     []byte
		msg       proto.Message
		wantLines int
		wantLast  string
	}{
		{name: "lossless", input: readSample(t), msg: sampleConversation()},
		{name: "few lost", input: manyUnknown(3), msg: conv(`{}`), wantLines: 3, wantLast: "$.k02"},
		{name: "exactly the limit", input: manyUnknown(20), msg: conv(`{}`), wantLines: 20, wantLast: "$.k19"},
		{name: "over the limit", input: manyUnknown(25), msg: conv(`{}`), wantLines: 21, wantLast: "and 5 more lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{TB: t}
			mappingtest.AssertLossless(r, tt.input, tt.msg)
			if len(r.errors) != tt.wantLines {
				t.Fatalf("AssertLossless reported %d lines, want %d:\n%s", len(r.errors), tt.wantLines, strings.Join(r.errors, "\n"))
			}
			if tt.wantLines > 0 && !strings.Contains(r.errors[len(r.errors)-1], tt.wantLast) {
				t.Errorf("last line = %q, want it to contain %q", r.errors[len(r.errors)-1], tt.wantLast)
			}
		})
	}
}

// FuzzLost checks that Lost survives any input, including hostile number
// literals (1e999999999) that a naive exact reading would take forever on.
func FuzzLost(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"waitTime": 1e999999999, "priority": 0e-99999999999, "timestampValue": -1e-999999}`))
	f.Add(mappingtest.LargeConversation(0))
	f.Fuzz(func(t *testing.T, input []byte) {
		_ = mappingtest.Lost(input, sampleConversation())
		_ = mappingtest.Lost(input, new(smartassistv1.Conversation))
	})
}

func ExampleLost() {
	input := []byte(`{"_id": "c-1", "priority": "HIGH", "waitTime": 3369}`)
	msg := &smartassistv1.Conversation{
		Id:       "c-1",
		WaitTime: durationpb.New(3369 * time.Millisecond),
	}
	for _, line := range mappingtest.Lost(input, msg) {
		fmt.Println(line)
	}
	// Output:
	// $.priority: "HIGH" not carried: field priority is unset and unmapped has no key "priority"
}
