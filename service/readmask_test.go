package service

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

func TestParseReadMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		paths   []string
		all     bool   // nil mask: everything
		wantErr string // substring
	}{
		{name: "empty is everything", all: true},
		{name: "star is everything", paths: []string{"*"}, all: true},
		{name: "top-level fields", paths: []string{"id", "status"}},
		{name: "nested field", paths: []string{"user_info.country"}},
		{name: "repeated message field", paths: []string{"participants.name"}},
		{name: "unknown field", paths: []string{"nope"}, wantErr: `Conversation has no field "nope"`},
		{name: "unknown nested field", paths: []string{"user_info.nope"}, wantErr: `UserInfo has no field "nope"`},
		{name: "into a scalar", paths: []string{"status.x"}, wantErr: "has no sub-fields"},
		{name: "into a well-known type", paths: []string{"start_time.seconds"}, wantErr: "has no sub-fields"},
		{name: "json name is not a path", paths: []string{"userInfo"}, wantErr: "no field"},
		{name: "star among others", paths: []string{"*", "id"}, wantErr: "only path"},
		{name: "too many paths", paths: make([]string, 201), wantErr: "at most 200"},
		{name: "too long", paths: []string{strings.Repeat("a", 300)}, wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := parseReadMask(&fieldmaskpb.FieldMask{Paths: tt.paths})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseReadMask(%q) error = %v, want one containing %q", tt.paths, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseReadMask(%q): %v", tt.paths, err)
			}
			if (m == nil) != tt.all {
				t.Fatalf("parseReadMask(%q) = %v, want everything=%v", tt.paths, m, tt.all)
			}
		})
	}
}

func TestReadMaskApply(t *testing.T) {
	t.Parallel()
	full := &smartassistv1.Conversation{
		Id:        "c-1",
		Status:    "OPEN",
		StartTime: timestamppb.Now(),
		UserInfo:  &smartassistv1.UserInfo{Country: "India", City: "Raha"},
		Participants: []*smartassistv1.Participant{
			{Name: "a", Status: "x"}, {Name: "b", Status: "y"},
		},
	}
	original := proto.Clone(full)
	m, err := parseReadMask(&fieldmaskpb.FieldMask{Paths: []string{"id", "user_info.country", "participants.name"}})
	if err != nil {
		t.Fatal(err)
	}
	got := m.apply(full)
	want := &smartassistv1.Conversation{
		Id:           "c-1",
		UserInfo:     &smartassistv1.UserInfo{Country: "India"},
		Participants: []*smartassistv1.Participant{{Name: "a"}, {Name: "b"}},
	}
	if !proto.Equal(got, want) {
		t.Errorf("apply = %v, want %v", got, want)
	}
	if !proto.Equal(full, original) {
		t.Error("apply modified the shared (cached) conversation")
	}
	if fields := m.upstreamFields(); strings.Join(fields, ",") != "_id,participants,userInfo" {
		t.Errorf("upstreamFields = %q, want _id, participants, userInfo", fields)
	}
	if a, b := m.etag(`"x"`), m.etag(`"y"`); a == b || a == `"x"` {
		t.Errorf("masked etags %s and %s must differ from each other and from the full one", a, b)
	}
}
