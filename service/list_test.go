package service

import (
	"strings"
	"testing"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

func TestPageToken(t *testing.T) {
	t.Parallel()
	req := &smartassistv1.ListConversationsRequest{StreamId: "st-1", Statuses: []string{"OPEN", "closed"}}
	filter := listFilterDigest(req)
	tok := encodePageToken(40, filter)

	if off, err := decodePageToken(tok, filter); err != nil || off != 40 {
		t.Fatalf("decode(encode(40)) = %d, %v", off, err)
	}
	same := &smartassistv1.ListConversationsRequest{StreamId: "st-1", Statuses: []string{"CLOSED", "OPEN", "OPEN"}}
	if listFilterDigest(same) != filter {
		t.Error("the same statuses in another order or case must be the same filter")
	}
	others := []*smartassistv1.ListConversationsRequest{
		{StreamId: "st-2", Statuses: req.Statuses},
		{StreamId: "st-1", Statuses: []string{"OPEN"}},
		{StreamId: "st-1", Statuses: req.Statuses, Source: "rtm"},
		{StreamId: "st-1", Statuses: req.Statuses, Language: "en"},
		{StreamId: "st-1", Statuses: req.Statuses, AccountId: "other"},
	}
	for _, o := range others {
		if _, err := decodePageToken(tok, listFilterDigest(o)); err == nil || !strings.Contains(err.Error(), "other filters") {
			t.Errorf("token used with %v: error = %v, want 'other filters'", o, err)
		}
	}
	tampered := []string{
		"", "x", tok[:len(tok)-1], tok + "A", strings.Repeat("A", 400),
		encodePageToken(-1, filter), encodePageToken(2_000_000, filter),
		strings.Replace(tok, tok[3:4], string(tok[3]^1), 1),
	}
	for _, bad := range tampered {
		if _, err := decodePageToken(bad, filter); err == nil {
			t.Errorf("decodePageToken(%q) accepted a token this API did not issue", bad)
		}
	}
}
