package service_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connectinprocess"
	"connectrpc.com/connect/v2/connectproto"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
)

// fakeUpstream records the requests it gets and answers with body and
// err.
type fakeUpstream struct {
	body []byte
	err  error

	mu   sync.Mutex
	reqs []smartassist.Request
}

func (f *fakeUpstream) GetConversation(_ context.Context, req smartassist.Request) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return f.body, f.err
}

func (f *fakeUpstream) ListConversations(context.Context, smartassist.ListRequest) ([]byte, error) {
	return nil, errors.New("fakeUpstream lists nothing")
}

func (f *fakeUpstream) requests() []smartassist.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]smartassist.Request(nil), f.reqs...)
}

// newInProcessClient serves a ConversationServer over upstream in process
// and returns a client of it.
func newInProcessClient(upstream service.Upstream, defaultAccount string, log *slog.Logger) smartassistv1connect.ConversationServiceClient {
	server := connect.NewServer()
	smartassistv1connect.RegisterConversationServiceHandler(server, service.NewConversationServer(service.Options{Upstream: upstream, DefaultAccountID: defaultAccount, Logger: log}))
	return smartassistv1connect.NewConversationServiceClient(connect.NewClient(connectinprocess.New(server)))
}

func sampleRequest() *smartassistv1.GetConversationRequest {
	return &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: demo.ConversationID}
}

// details decodes a connect error's details.
func details(t *testing.T, err error) []proto.Message {
	t.Helper()
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("got %T %v, want a *connect.Error", err, err)
	}
	var out []proto.Message
	for _, d := range cerr.Details() {
		m, err := connectproto.UnmarshalErrorDetail(d)
		if err != nil {
			t.Fatalf("detail %s: %v", d.Type, err)
		}
		out = append(out, m)
	}
	return out
}

func findDetail[T proto.Message](details []proto.Message) (T, bool) {
	return rpctest.FindDetail[T](details)
}

// TestGetConversation maps SmartAssist's answer into the response.
func TestGetConversation(t *testing.T) {
	t.Parallel()
	up := &fakeUpstream{body: demo.Conversation}
	got, err := newInProcessClient(up, "", nil).GetConversation(t.Context(), sampleRequest())
	if err != nil {
		t.Fatalf("GetConversation: %v", err)
	}
	conv, err := mapping.Conversation(demo.Conversation)
	if err != nil {
		t.Fatal(err)
	}
	want := &smartassistv1.GetConversationResponse{Conversation: conv}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("GetConversation (-want +got):\n%s", diff)
	}
}

// TestUpstreamRequest checks what the handler asks SmartAssist for: the
// ids, the account (the request's, else the default), the caller's token
// from "auth" or "Authorization: Bearer", and only the correlation and
// trace headers.
func TestUpstreamRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		defaultAccount string
		account        string
		headers        []string // name, value...
		want           smartassist.Request
	}{
		{
			name: "bare",
			want: smartassist.Request{StreamID: demo.StreamID, ConversationID: demo.ConversationID},
		},
		{
			name:           "default account",
			defaultAccount: "acc-default",
			want:           smartassist.Request{StreamID: demo.StreamID, ConversationID: demo.ConversationID, AccountID: "acc-default"},
		},
		{
			name:           "request account wins",
			defaultAccount: "acc-default",
			account:        "acc-request",
			want:           smartassist.Request{StreamID: demo.StreamID, ConversationID: demo.ConversationID, AccountID: "acc-request"},
		},
		{
			name:    "auth header",
			headers: []string{"auth", " tok-1 "},
			want:    smartassist.Request{StreamID: demo.StreamID, ConversationID: demo.ConversationID, Auth: "tok-1"},
		},
		{
			name:    "bearer",
			headers: []string{"Authorization", "Bearer tok-2"},
			want:    smartassist.Request{StreamID: demo.StreamID, ConversationID: demo.ConversationID, Auth: "tok-2"},
		},
		{
			name:    "bearer any case",
			headers: []string{"Authorization", "BEARER tok-3"},
			want:    smartassist.Request{StreamID: demo.StreamID, ConversationID: demo.ConversationID, Auth: "tok-3"},
		},
		{
			name:    "auth wins over bearer",
			headers: []string{"auth", "tok-4", "Authorization", "Bearer tok-5"},
			want:    smartassist.Request{StreamID: demo.StreamID, ConversationID: demo.ConversationID, Auth: "tok-4"},
		},
		{
			name:    "blank auth falls back to bearer",
			headers: []string{"auth", "  ", "Authorization", "Bearer tok-6"},
			want:    smartassist.Request{StreamID: demo.StreamID, ConversationID: demo.ConversationID, Auth: "tok-6"},
		},
		{
			name:    "other schemes are no token",
			headers: []string{"Authorization", "Basic dXNlcjpwdw=="},
			want:    smartassist.Request{StreamID: demo.StreamID, ConversationID: demo.ConversationID},
		},
		{
			name:    "bearer without a token",
			headers: []string{"Authorization", "Bearer"},
			want:    smartassist.Request{StreamID: demo.StreamID, ConversationID: demo.ConversationID},
		},
		{
			name: "only correlation and trace headers are forwarded",
			headers: []string{
				"X-Request-Id", "req-1", "Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
				"Tracestate", "a=b", "Baggage", "k=v",
				"Cookie", "c=d", "X-Secret", "s", "Accountid", "acc-header", "Host", "evil.example",
			},
			want: smartassist.Request{StreamID: demo.StreamID, ConversationID: demo.ConversationID, Forward: http.Header{
				"X-Request-Id": {"req-1"}, "Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
				"Tracestate": {"a=b"}, "Baggage": {"k=v"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := &fakeUpstream{body: demo.Conversation}
			ctx, info := connect.NewClientContext(t.Context())
			for i := 0; i+1 < len(tt.headers); i += 2 {
				info.RequestHeader().Set(tt.headers[i], tt.headers[i+1])
			}
			req := sampleRequest()
			req.AccountId = tt.account
			if _, err := newInProcessClient(up, tt.defaultAccount, nil).GetConversation(ctx, req); err != nil {
				t.Fatalf("GetConversation: %v", err)
			}
			if diff := cmp.Diff([]smartassist.Request{tt.want}, up.requests()); diff != "" {
				t.Errorf("upstream requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidation checks that invalid ids are refused with a BadRequest
// naming every bad field, and SmartAssist is not called.
func TestValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		req        *smartassistv1.GetConversationRequest
		wantFields []string
	}{
		{"empty request", &smartassistv1.GetConversationRequest{}, []string{"stream_id", "conversation_id"}},
		{"stream", &smartassistv1.GetConversationRequest{StreamId: "a b", ConversationId: "c-1"}, []string{"stream_id"}},
		{"conversation", &smartassistv1.GetConversationRequest{StreamId: "st-1", ConversationId: ".."}, []string{"conversation_id"}},
		{"account", &smartassistv1.GetConversationRequest{StreamId: "st-1", ConversationId: "c-1", AccountId: "a/b"}, []string{"account_id"}},
		{"all", &smartassistv1.GetConversationRequest{StreamId: "?", ConversationId: "#", AccountId: "%2e"}, []string{"stream_id", "conversation_id", "account_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := &fakeUpstream{body: demo.Conversation}
			_, err := newInProcessClient(up, "", nil).GetConversation(t.Context(), tt.req)
			if code := connect.CodeOf(err); code != connect.CodeInvalidArgument {
				t.Fatalf("code %v (%v), want invalid_argument", code, err)
			}
			ds := details(t, err)
			info, ok := findDetail[*errdetails.ErrorInfo](ds)
			if !ok || info.GetDomain() != service.ErrorDomain || info.GetReason() != "INVALID_ARGUMENT" {
				t.Errorf("ErrorInfo %v, want domain %s reason INVALID_ARGUMENT", info, service.ErrorDomain)
			}
			br, _ := findDetail[*errdetails.BadRequest](ds)
			var fields []string
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
				if !strings.HasPrefix(v.GetDescription(), v.GetField()+": ") {
					t.Errorf("violation description %q does not name %s", v.GetDescription(), v.GetField())
				}
			}
			if diff := cmp.Diff(tt.wantFields, fields); diff != "" {
				t.Errorf("violated fields (-want +got):\n%s", diff)
			}
			if n := len(up.requests()); n != 0 {
				t.Errorf("SmartAssist called %d times", n)
			}
		})
	}
}

// TestUnreadableConversation checks that a 2xx answer that is not a
// conversation is SmartAssist's fault, reported without its body, and
// logged with the reason for us.
func TestUnreadableConversation(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	up := &fakeUpstream{body: []byte(`{"participants": [{"name": "private-upstream-text`)}
	_, err := newInProcessClient(up, "", log).GetConversation(t.Context(), sampleRequest())
	if code := connect.CodeOf(err); code != connect.CodeInternal {
		t.Fatalf("code %v (%v), want internal", code, err)
	}
	if strings.Contains(err.Error(), "private-upstream-text") {
		t.Errorf("the upstream body reached the caller: %v", err)
	}
	info, _ := findDetail[*errdetails.ErrorInfo](details(t, err))
	want := &errdetails.ErrorInfo{Domain: service.ErrorDomain, Reason: "UPSTREAM_BAD_RESPONSE", Metadata: map[string]string{"httpStatus": "200"}}
	if diff := cmp.Diff(want, info, protocmp.Transform()); diff != "" {
		t.Errorf("ErrorInfo (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "an answer the bridge cannot map") || !strings.Contains(logs.String(), "conversation_id="+demo.ConversationID) {
		t.Errorf("no log line naming the conversation:\n%s", logs.String())
	}
}
