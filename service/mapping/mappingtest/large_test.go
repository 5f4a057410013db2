package mappingtest_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/smartassist-bridge/smartassist-bridge/service/mapping/mappingtest"
)

func TestLargeConversation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target int
	}{
		{name: "no target", target: 0},
		{name: "small", target: 10_000},
		{name: "one MiB", target: 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := mappingtest.LargeConversation(tt.target)
			if len(doc) < tt.target {
				t.Errorf("len = %d, want at least %d", len(doc), tt.target)
			}
			// The generator tracks the size without re-encoding; an
			// overshoot of more than one round means it lost count.
			if tt.target > 0 && len(doc) > tt.target+10_000 {
				t.Errorf("len = %d, want close to %d", len(doc), tt.target)
			}
			if !utf8.Valid(doc) || !json.Valid(doc) {
				t.Fatal("not valid UTF-8 JSON")
			}
			if again := mappingtest.LargeConversation(tt.target); !bytes.Equal(doc, again) {
				t.Error("two calls differ")
			}

			dec := json.NewDecoder(bytes.NewReader(doc))
			dec.UseNumber()
			var conv struct {
				ID           string `json:"_id"`
				Participants []struct {
					QueueID string `json:"queueId"`
					Name    string `json:"name"`
				} `json:"participants"`
				TransferDetails []struct {
					TransferredTo []map[string]any `json:"transferredTo"`
				} `json:"transferDetails"`
				Queues           []map[string]any `json:"queues"`
				AgentDesktopMeta struct {
					PagesVisited []struct {
						Timestamp string      `json:"timestamp"`
						Timespent json.Number `json:"timespent"`
					} `json:"pagesVisited"`
				} `json:"agentDesktopMeta"`
				UserInfo struct {
					Identities []map[string]any `json:"identities"`
				} `json:"userInfo"`
				SequenceNo json.Number `json:"sequenceNo"`
			}
			if err := dec.Decode(&conv); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(conv.ID, "c-") || conv.SequenceNo != "12345678901234567890" {
				t.Errorf("_id = %q, sequenceNo = %s", conv.ID, conv.SequenceNo)
			}
			n := len(conv.Participants)
			if len(conv.TransferDetails) != n || len(conv.Queues) != n ||
				len(conv.AgentDesktopMeta.PagesVisited) != n || len(conv.UserInfo.Identities) != n {
				t.Errorf("arrays grow unevenly: %d participants, %d transfers, %d queues, %d pages, %d identities",
					n, len(conv.TransferDetails), len(conv.Queues), len(conv.AgentDesktopMeta.PagesVisited), len(conv.UserInfo.Identities))
			}
			for i, p := range conv.Participants {
				if !strings.HasPrefix(p.QueueID, "qu-") || p.Name == "" {
					t.Fatalf("participants[%d] = %+v", i, p)
				}
			}
			for i, td := range conv.TransferDetails {
				if len(td.TransferredTo) == 0 {
					t.Fatalf("transferDetails[%d] has no transferredTo", i)
				}
			}
			for i, pv := range conv.AgentDesktopMeta.PagesVisited {
				if !strings.Contains(string(pv.Timespent), ".") || len(pv.Timestamp) != len("2023-05-22T04:55:05.350Z") {
					t.Fatalf("pagesVisited[%d] = %+v, want fractional ms and an RFC 3339 ms instant", i, pv)
				}
			}
			if tt.target >= 1<<20 && n < 100 {
				t.Errorf("%d participants in %d bytes: growth is not spread over the arrays", n, len(doc))
			}
		})
	}
}

// TestLargeConversationNeedsCarrying makes sure the generated document gives
// the checker work at every level: an empty message loses something in
// each of them.
func TestLargeConversationNeedsCarrying(t *testing.T) {
	t.Parallel()
	lost := mappingtest.Lost(mappingtest.LargeConversation(50_000), conv(`{}`))
	for _, want := range []string{"$.participants", "$.transferDetails", "$.queues", "$.agentDesktopMeta", "$.userInfo", "$.channelMeta", "$.sequenceNo"} {
		if !containsPath(lost, want) {
			t.Errorf("Lost(large, empty) has no line for %s", want)
		}
	}
}

func containsPath(lines []string, path string) bool {
	for _, line := range lines {
		if strings.HasPrefix(line, path+":") {
			return true
		}
	}
	return false
}

// BenchmarkLost measures the check of a typical document that is carried
// whole, the common case in the mapper's tests.
func BenchmarkLost(b *testing.B) {
	input := readSample(b)
	msg := sampleConversation()
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		mappingtest.Lost(input, msg)
	}
}

func BenchmarkLargeConversation(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		mappingtest.LargeConversation(1 << 20)
	}
}
