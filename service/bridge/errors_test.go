package bridge_test

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/bridge"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

// repeat returns n copies of r, for scripting every attempt of a call.
func repeat(n int, r smartassisttest.Response) []smartassisttest.Response {
	out := make([]smartassisttest.Response, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// smartAssistError is a SmartAssist error body.
func smartAssistError(msg, code string) []byte {
	return []byte(`{"errors":[{"msg":"` + msg + `","code":` + code + `}]}`)
}

// TestUpstreamErrors drives every row of the upstream-status table, and
// every failure that is not a status, through the bridge with a fake
// SmartAssist, and checks what the caller gets: the Connect code, the
// ErrorInfo (domain, reason, metadata), a RetryInfo where one is due, and
// how many requests SmartAssist saw (retries: 429, 502, 503 and 504 are
// retried, 500 is not).
func TestUpstreamErrors(t *testing.T) {
	t.Parallel()
	const attempts = 3

	tests := []struct {
		name       string
		fakeOpts   []smartassisttest.Option
		script     []smartassisttest.Response // for the requested conversation
		upstream   func(*smartassist.Config)
		closedPort bool // point the client at a port nobody listens on
		req        *smartassistv1.GetConversationRequest

		wantCode   connect.Code
		wantReason string
		wantMeta   map[string]string
		wantRetry  time.Duration // RetryInfo delay; 0 means no RetryInfo
		wantHits   int           // -1: not checked
	}{
		{
			name:       "400",
			script:     []smartassisttest.Response{{Status: 400, Body: smartAssistError("streamId is malformed", `"BAD_STREAM"`)}},
			wantCode:   connect.CodeInvalidArgument,
			wantReason: "UPSTREAM_BAD_REQUEST",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "400", "upstreamCode": "BAD_STREAM", "upstreamMessage": "streamId is malformed"},
			wantHits:   1,
		},
		{
			name:       "401",
			fakeOpts:   []smartassisttest.Option{smartassisttest.WithPassThroughToken("the-right-token")},
			wantCode:   connect.CodeUnauthenticated,
			wantReason: "UPSTREAM_UNAUTHENTICATED",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "401", "upstreamCode": "401", "upstreamMessage": "invalid token"},
			wantHits:   1,
		},
		{
			name:       "403",
			fakeOpts:   []smartassisttest.Option{smartassisttest.WithAccountID("acc-allowed")},
			req:        &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: demo.ConversationID, AccountId: "acc-other"},
			wantCode:   connect.CodePermissionDenied,
			wantReason: "UPSTREAM_PERMISSION_DENIED",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "403", "upstreamCode": "403", "upstreamMessage": "Account mismatch"},
			wantHits:   1,
		},
		{
			name:       "404",
			req:        &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: "c-missing"},
			wantCode:   connect.CodeNotFound,
			wantReason: "CONVERSATION_NOT_FOUND",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "404", "upstreamCode": "404", "upstreamMessage": "Conversation not found"},
			wantHits:   1,
		},
		{
			name:       "409 with a numeric upstream code",
			script:     []smartassisttest.Response{{Status: 409, Body: smartAssistError("conversation is being merged", `409`)}},
			wantCode:   connect.CodeAborted,
			wantReason: "UPSTREAM_CONFLICT",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "409", "upstreamCode": "409", "upstreamMessage": "conversation is being merged"},
			wantHits:   1,
		},
		{
			// A Retry-After beyond the call's deadline is not waited for:
			// the caller gets it to wait instead.
			name:       "429",
			script:     repeat(attempts, smartassisttest.Response{Status: 429, Header: http.Header{"Retry-After": {"30"}}, Body: smartAssistError("slow down", `"429"`)}),
			wantCode:   connect.CodeResourceExhausted,
			wantReason: "UPSTREAM_RATE_LIMITED",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "429", "upstreamCode": "429", "upstreamMessage": "slow down"},
			wantRetry:  30 * time.Second,
			wantHits:   1,
		},
		{
			name:       "429 retried, then without Retry-After",
			script:     repeat(attempts, smartassisttest.Response{Status: 429}),
			wantCode:   connect.CodeResourceExhausted,
			wantReason: "UPSTREAM_RATE_LIMITED",
			wantMeta:   map[string]string{"attempts": "3", "httpStatus": "429"},
			wantRetry:  time.Second,
			wantHits:   attempts,
		},
		{
			name:       "500 is not retried",
			script:     repeat(attempts, smartassisttest.Response{Status: 500, Body: smartAssistError("NullPointerException", `"500"`)}),
			wantCode:   connect.CodeUnavailable,
			wantReason: "UPSTREAM_UNAVAILABLE",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "500", "upstreamCode": "500", "upstreamMessage": "NullPointerException"},
			wantHits:   1,
		},
		{
			name:       "502 retried",
			script:     repeat(attempts, smartassisttest.Response{Status: 502}),
			wantCode:   connect.CodeUnavailable,
			wantReason: "UPSTREAM_UNAVAILABLE",
			wantMeta:   map[string]string{"attempts": "3", "httpStatus": "502"},
			wantHits:   attempts,
		},
		{
			name:       "503 retried",
			script:     repeat(attempts, smartassisttest.Response{Status: 503, Body: smartAssistError("maintenance", `"503"`)}),
			wantCode:   connect.CodeUnavailable,
			wantReason: "UPSTREAM_UNAVAILABLE",
			wantMeta:   map[string]string{"attempts": "3", "httpStatus": "503", "upstreamCode": "503", "upstreamMessage": "maintenance"},
			wantHits:   attempts,
		},
		{
			name:       "503 with Retry-After",
			script:     repeat(attempts, smartassisttest.Response{Status: 503, Header: http.Header{"Retry-After": {"60"}}}),
			wantCode:   connect.CodeUnavailable,
			wantReason: "UPSTREAM_UNAVAILABLE",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "503"},
			wantRetry:  time.Minute,
			wantHits:   1,
		},
		{
			name:       "504 retried",
			script:     repeat(attempts, smartassisttest.Response{Status: 504}),
			wantCode:   connect.CodeDeadlineExceeded,
			wantReason: "UPSTREAM_TIMEOUT",
			wantMeta:   map[string]string{"attempts": "3", "httpStatus": "504"},
			wantHits:   attempts,
		},
		{
			name:       "unlisted 4xx is our bug",
			script:     []smartassisttest.Response{{Status: 418}},
			wantCode:   connect.CodeInternal,
			wantReason: "UPSTREAM_REJECTED_REQUEST",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "418"},
			wantHits:   1,
		},
		{
			name:       "unlisted 5xx is unavailable",
			script:     []smartassisttest.Response{{Status: 507}},
			wantCode:   connect.CodeUnavailable,
			wantReason: "UPSTREAM_UNAVAILABLE",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "507"},
			wantHits:   1,
		},
		{
			name:       "redirect is not followed",
			script:     []smartassisttest.Response{{Status: 302, Header: http.Header{"Location": {"http://127.0.0.1:1/elsewhere"}}}},
			wantCode:   connect.CodeInternal,
			wantReason: "UPSTREAM_REJECTED_REQUEST",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "302"},
			wantHits:   1,
		},
		{
			name:       "connection refused",
			closedPort: true,
			wantCode:   connect.CodeUnavailable,
			wantReason: "UPSTREAM_UNAVAILABLE",
			wantMeta:   map[string]string{"attempts": "3"},
			wantHits:   -1,
		},
		{
			name:       "connection dropped",
			script:     repeat(attempts, smartassisttest.Response{CloseConn: true}),
			wantCode:   connect.CodeUnavailable,
			wantReason: "UPSTREAM_UNAVAILABLE",
			wantMeta:   map[string]string{"attempts": "3"},
			wantHits:   attempts,
		},
		{
			name:       "body larger than MaxBodyBytes",
			upstream:   func(c *smartassist.Config) { c.MaxBodyBytes = int64(len(demo.Conversation)) - 1 },
			wantCode:   connect.CodeResourceExhausted,
			wantReason: "UPSTREAM_RESPONSE_TOO_LARGE",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "200"},
			wantHits:   1,
		},
		{
			name: "body larger than MaxBodyBytes without Content-Length",
			script: []smartassisttest.Response{{
				Body:   []byte(`{"participants":[]}` + strings.Repeat(" ", 4096)),
				Header: http.Header{"Transfer-Encoding": {"chunked"}},
			}},
			upstream:   func(c *smartassist.Config) { c.MaxBodyBytes = 1024 },
			wantCode:   connect.CodeResourceExhausted,
			wantReason: "UPSTREAM_RESPONSE_TOO_LARGE",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "200"},
			wantHits:   1,
		},
		{
			name:       "malformed JSON",
			script:     []smartassisttest.Response{{Body: []byte(`{"participants": [{"name": "John`)}},
			wantCode:   connect.CodeInternal,
			wantReason: "UPSTREAM_BAD_RESPONSE",
			wantMeta:   map[string]string{"httpStatus": "200"},
			wantHits:   1,
		},
		{
			name:       "JSON that is not an object",
			script:     []smartassisttest.Response{{Body: []byte(`["not", "a", "conversation"]`)}},
			wantCode:   connect.CodeInternal,
			wantReason: "UPSTREAM_BAD_RESPONSE",
			wantMeta:   map[string]string{"httpStatus": "200"},
			wantHits:   1,
		},
		{
			// A body cut off mid-way is a transient fault: retried, and
			// UNAVAILABLE once the attempts run out.
			name: "body cut short",
			script: []smartassisttest.Response{
				{Body: []byte(`{"participants":[`), Header: http.Header{"Content-Length": {"4096"}}},
				{Body: []byte(`{"participants":[`), Header: http.Header{"Content-Length": {"4096"}}},
				{Body: []byte(`{"participants":[`), Header: http.Header{"Content-Length": {"4096"}}},
			},
			wantCode:   connect.CodeUnavailable,
			wantReason: "UPSTREAM_UNAVAILABLE",
			wantMeta:   map[string]string{"attempts": "3", "httpStatus": "200"},
			wantHits:   3,
		},
		{
			name:       "upstream timeout",
			script:     []smartassisttest.Response{{Delay: time.Minute}},
			upstream:   func(c *smartassist.Config) { c.Timeout = time.Second },
			wantCode:   connect.CodeDeadlineExceeded,
			wantReason: "UPSTREAM_TIMEOUT",
			wantMeta:   map[string]string{"attempts": "1"},
			// On a loaded machine the request may not reach the fake
			// before the timeout; the code and reason are what matter.
			wantHits: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t, tt.fakeOpts...)
			req := tt.req
			if req == nil {
				req = sampleRequest()
			}
			fake.Script(req.GetConversationId(), tt.script...)
			baseURL := fake.URL
			if tt.closedPort {
				baseURL = closedPortURL(t)
			}
			b := startBridge(t, bridge.Options{Service: service.Options{Upstream: newUpstream(t, baseURL, func(c *smartassist.Config) {
				c.MaxAttempts = attempts
				c.Timeout = 5 * time.Second
				if tt.upstream != nil {
					tt.upstream(c)
				}
			})}}, bridge.ServeOptions{})

			_, err := newClient(t, b.URL, false).GetConversation(t.Context(), req)
			if code := connect.CodeOf(err); code != tt.wantCode {
				t.Fatalf("code %v (%v), want %v", code, err, tt.wantCode)
			}
			var cerr *connect.Error
			if errors.As(err, &cerr) && (cerr.Message() == "" || strings.Contains(cerr.Message(), "%!")) {
				t.Errorf("message %q is empty or mis-formatted", cerr.Message())
			}
			details := connectDetails(t, err)
			checkErrorInfo(t, details, tt.wantReason, tt.wantMeta)
			checkRetryInfo(t, details, tt.wantRetry)
			if tt.wantHits >= 0 {
				if got := fake.Hits(); got != tt.wantHits {
					t.Errorf("SmartAssist saw %d requests, want %d", got, tt.wantHits)
				}
			}
		})
	}
}

// closedPortURL returns the URL of a loopback port nobody listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return url
}

// checkRetryInfo fails the test unless details hold a RetryInfo of want,
// or none when want is 0.
func checkRetryInfo(t *testing.T, details []proto.Message, want time.Duration) {
	t.Helper()
	ri, ok := findDetail[*errdetails.RetryInfo](details)
	switch {
	case want == 0 && ok:
		t.Errorf("unexpected RetryInfo %v", ri)
	case want != 0 && !ok:
		t.Errorf("no RetryInfo in %v, want a delay of %s", details, want)
	case ok && ri.GetRetryDelay().AsDuration() != want:
		t.Errorf("RetryInfo delay %s, want %s", ri.GetRetryDelay().AsDuration(), want)
	}
}

// TestRetriesBounded checks that a SmartAssist failing on and on is asked
// exactly MaxAttempts times.
func TestRetriesBounded(t *testing.T) {
	t.Parallel()
	for _, maxAttempts := range []int{1, 3} {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.Script(demo.ConversationID, repeat(10, smartassisttest.Response{Status: 503})...)
			b := startBridgeFor(t, fake, func(bc *bridgeConfig) {
				bc.upstream = func(c *smartassist.Config) { c.MaxAttempts = maxAttempts }
			})

			_, err := newClient(t, b.URL, true, connecthttp.WithGRPC()).GetConversation(t.Context(), sampleRequest())
			if code := connect.CodeOf(err); code != connect.CodeUnavailable {
				t.Fatalf("code %v (%v), want unavailable", code, err)
			}
			if got := fake.Hits(); got != maxAttempts {
				t.Errorf("MaxAttempts %d: SmartAssist saw %d requests", maxAttempts, got)
			}
		})
	}
}

// TestInvalidIDs checks that malformed ids are refused with a BadRequest
// naming the field before anything is sent to SmartAssist.
func TestInvalidIDs(t *testing.T) {
	t.Parallel()
	b, fake := sampleBridge(t)
	client := newClient(t, b.URL, false, connecthttp.WithProtoJSON())

	tests := []struct {
		name  string
		field string
		value string
	}{
		{"stream traversal", "stream_id", "../x"},
		{"stream dot dot", "stream_id", ".."},
		{"stream dot", "stream_id", "."},
		{"stream slash", "stream_id", "a/b"},
		{"stream query", "stream_id", "a?b"},
		{"stream fragment", "stream_id", "a#b"},
		{"stream escaped dots", "stream_id", "%2e%2e"},
		{"stream empty", "stream_id", ""},
		{"stream too long", "stream_id", strings.Repeat("s", 129)},
		{"stream unicode", "stream_id", "st-ünïcode"},
		{"stream space", "stream_id", "st 1"},
		{"stream newline", "stream_id", "st-1\r\nX-Injected: 1"},
		{"conversation traversal", "conversation_id", "../x"},
		{"conversation slash", "conversation_id", "a/b"},
		{"conversation query", "conversation_id", "a?b"},
		{"conversation fragment", "conversation_id", "a#b"},
		{"conversation escaped dots", "conversation_id", "%2e%2e"},
		{"conversation empty", "conversation_id", ""},
		{"conversation too long", "conversation_id", strings.Repeat("c", 129)},
		{"conversation unicode", "conversation_id", "c-日本"},
		{"account slash", "account_id", "acc/1"},
		{"account traversal", "account_id", ".."},
		{"account too long", "account_id", strings.Repeat("a", 129)},
	}
	t.Run("group", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				req := &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: demo.ConversationID}
				switch tt.field {
				case "stream_id":
					req.StreamId = tt.value
				case "conversation_id":
					req.ConversationId = tt.value
				case "account_id":
					req.AccountId = tt.value
				}
				_, err := client.GetConversation(t.Context(), req)
				if code := connect.CodeOf(err); code != connect.CodeInvalidArgument {
					t.Fatalf("code %v (%v), want invalid_argument", code, err)
				}
				details := connectDetails(t, err)
				checkErrorInfo(t, details, "INVALID_ARGUMENT", nil)
				br, ok := findDetail[*errdetails.BadRequest](details)
				if !ok {
					t.Fatalf("no BadRequest in %v", details)
				}
				var fields []string
				for _, v := range br.GetFieldViolations() {
					fields = append(fields, v.GetField())
					if v.GetDescription() == "" {
						t.Errorf("violation of %s has no description", v.GetField())
					}
				}
				if diff := cmp.Diff([]string{tt.field}, fields); diff != "" {
					t.Errorf("violated fields (-want +got):\n%s", diff)
				}
			})
		}
	})
	t.Run("every field at once", func(t *testing.T) {
		req := &smartassistv1.GetConversationRequest{StreamId: "a/b", ConversationId: "", AccountId: "../x"}
		_, err := client.GetConversation(t.Context(), req)
		if code := connect.CodeOf(err); code != connect.CodeInvalidArgument {
			t.Fatalf("code %v (%v), want invalid_argument", code, err)
		}
		br, _ := findDetail[*errdetails.BadRequest](connectDetails(t, err))
		want := &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "stream_id"}, {Field: "conversation_id"}, {Field: "account_id"},
		}}
		if diff := cmp.Diff(want, br, protocmp.Transform(), protocmp.IgnoreFields(&errdetails.BadRequest_FieldViolation{}, "description")); diff != "" {
			t.Errorf("BadRequest (-want +got):\n%s", diff)
		}
	})
	if got := fake.Hits(); got != 0 {
		t.Errorf("SmartAssist saw %d requests for invalid ids, want 0: %v", got, fake.Requests())
	}

	// The longest valid id does reach SmartAssist (which does not know it).
	long := strings.Repeat("c", 128)
	_, err := client.GetConversation(t.Context(), &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: long})
	if code := connect.CodeOf(err); code != connect.CodeNotFound {
		t.Fatalf("128-character id: code %v (%v), want not_found from SmartAssist", code, err)
	}
	if reqs := fake.Requests(); len(reqs) != 1 || !strings.HasSuffix(reqs[0].Path, "/conversations/"+long) {
		t.Errorf("upstream requests %v, want one for the 128-character id", reqs)
	}
}
