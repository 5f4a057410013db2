package bridge_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

// TestGetConversationEveryProtocol fetches the sample end to end, through a
// real listener, with connect-go's client in each protocol it speaks.
func TestGetConversationEveryProtocol(t *testing.T) {
	t.Parallel()
	b, fake := sampleBridge(t)

	tests := []struct {
		name         string
		h2c          bool
		opts         []connecthttp.Option
		wantProtocol string
		wantCodec    string
		wantMethod   string
	}{
		{"connect json", false, []connecthttp.Option{connecthttp.WithProtoJSON()}, "connect", "json", http.MethodPost},
		{"connect binary", false, nil, "connect", "proto", http.MethodPost},
		{"connect binary h2c", true, nil, "connect", "proto", http.MethodPost},
		{"connect get json", false, []connecthttp.Option{connecthttp.WithHTTPGet(), connecthttp.WithProtoJSON()}, "connect", "json", http.MethodGet},
		{"connect get binary", false, []connecthttp.Option{connecthttp.WithHTTPGet()}, "connect", "proto", http.MethodGet},
		{"connect gzip", false, []connecthttp.Option{connecthttp.WithSendGzip()}, "connect", "proto", http.MethodPost},
		{"grpc", true, []connecthttp.Option{connecthttp.WithGRPC()}, "grpc", "proto", http.MethodPost},
		{"grpc gzip", true, []connecthttp.Option{connecthttp.WithGRPC(), connecthttp.WithSendGzip()}, "grpc", "proto", http.MethodPost},
		{"grpc-web", false, []connecthttp.Option{connecthttp.WithGRPCWeb()}, "grpcweb", "proto", http.MethodPost},
		{"grpc-web json", false, []connecthttp.Option{connecthttp.WithGRPCWeb(), connecthttp.WithProtoJSON()}, "grpcweb", "json", http.MethodPost},
		{"grpc-web gzip", false, []connecthttp.Option{connecthttp.WithGRPCWeb(), connecthttp.WithSendGzip()}, "grpcweb", "proto", http.MethodPost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := newClient(t, b.URL, tt.h2c, tt.opts...)
			ctx, info := connect.NewClientContext(t.Context())
			got, err := client.GetConversation(ctx, sampleRequest())
			checkSample(t, got, err)

			if info.Protocol != tt.wantProtocol || info.Codec != tt.wantCodec {
				t.Errorf("called with protocol %q codec %q, want %q %q", info.Protocol, info.Codec, tt.wantProtocol, tt.wantCodec)
			}
			httpInfo, _ := connecthttp.ClientInfoForContext(ctx)
			if got := httpInfo.HTTPMethod(); got != tt.wantMethod {
				t.Errorf("HTTP method %q, want %q", got, tt.wantMethod)
			}
			if got := httpInfo.ResponseStatus(); got != http.StatusOK {
				t.Errorf("HTTP status %d, want 200", got)
			}
			wantProto := "HTTP/1.1"
			if tt.h2c {
				wantProto = "HTTP/2.0"
			}
			if got := httpInfo.ResponseProto(); got != wantProto {
				t.Errorf("HTTP version %q, want %q", got, wantProto)
			}
		})
	}
	t.Cleanup(func() { // after every subtest
		if got := fake.Hits(); got != len(tests) {
			t.Errorf("SmartAssist saw %d requests for %d calls", got, len(tests))
		}
		for i, r := range fake.Requests() {
			want := "/agentassist/api/v1/public/" + demo.StreamID + "/conversations/" + demo.ConversationID
			if r.Method != http.MethodGet || r.Path != want {
				t.Errorf("upstream request %d: %s %s, want GET %s", i, r.Method, r.Path, want)
			}
		}
	})
}

// TestGetConversationPlainJSON is the curl call of the command's doc
// comment: a plain HTTP POST of JSON, no Connect client involved.
func TestGetConversationPlainJSON(t *testing.T) {
	t.Parallel()
	b, _ := sampleBridge(t)

	body := `{"streamId":"` + demo.StreamID + `","conversationId":"` + demo.ConversationID + `"}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		b.URL+getConversationMethod, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := newHTTPClient(t, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, raw)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	got := new(smartassistv1.GetConversationResponse)
	if err := protojson.Unmarshal(raw, got); err != nil {
		t.Fatalf("answer is not the response message in JSON: %v\n%s", err, raw)
	}
	checkSample(t, got, nil)
	if !json.Valid(raw) {
		t.Errorf("answer is not JSON: %s", raw)
	}
}

// TestGRPCGo calls the bridge with grpc-go, an implementation independent
// of connect-go, over cleartext HTTP/2, and checks that answers and errors
// (codes and google.rpc details) survive its decoding.
func TestGRPCGo(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.Script("c-rate-limited", smartassisttest.Response{Status: 429, Header: http.Header{"Retry-After": {"120"}}})
	b := startBridgeFor(t, fake)
	conn := newGRPCConn(t, b.Addr)

	t.Run("sample", func(t *testing.T) {
		t.Parallel()
		got := new(smartassistv1.GetConversationResponse)
		err := conn.Invoke(t.Context(), getConversationMethod, sampleRequest(), got)
		checkSample(t, got, err)
	})
	t.Run("sample gzip", func(t *testing.T) {
		t.Parallel()
		got := new(smartassistv1.GetConversationResponse)
		err := conn.Invoke(t.Context(), getConversationMethod, sampleRequest(), got, grpc.UseCompressor(gzip.Name))
		checkSample(t, got, err)
	})

	errorTests := []struct {
		name       string
		req        *smartassistv1.GetConversationRequest
		wantCode   codes.Code
		wantReason string
		wantMeta   map[string]string
		check      func(t *testing.T, details []proto.Message)
	}{
		{
			name:       "not found",
			req:        &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: "c-missing"},
			wantCode:   codes.NotFound,
			wantReason: "CONVERSATION_NOT_FOUND",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "404", "upstreamCode": "404", "upstreamMessage": "Conversation not found"},
		},
		{
			name:       "invalid id",
			req:        &smartassistv1.GetConversationRequest{StreamId: "../x", ConversationId: demo.ConversationID},
			wantCode:   codes.InvalidArgument,
			wantReason: "INVALID_ARGUMENT",
			check: func(t *testing.T, details []proto.Message) {
				br, ok := findDetail[*errdetails.BadRequest](details)
				if !ok || len(br.GetFieldViolations()) != 1 || br.GetFieldViolations()[0].GetField() != "stream_id" {
					t.Errorf("want a BadRequest naming stream_id, got %v", details)
				}
			},
		},
		{
			name:       "rate limited",
			req:        &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: "c-rate-limited"},
			wantCode:   codes.ResourceExhausted,
			wantReason: "UPSTREAM_RATE_LIMITED",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "429"},
			check: func(t *testing.T, details []proto.Message) {
				ri, ok := findDetail[*errdetails.RetryInfo](details)
				if !ok || ri.GetRetryDelay().AsDuration().Seconds() != 120 {
					t.Errorf("want a RetryInfo of 120s, got %v", details)
				}
			},
		},
	}
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := conn.Invoke(t.Context(), getConversationMethod, tt.req, new(smartassistv1.GetConversationResponse))
			st, ok := status.FromError(err)
			if !ok {
				t.Fatalf("got %v, want a gRPC status", err)
			}
			if st.Code() != tt.wantCode {
				t.Fatalf("code %v (%q), want %v", st.Code(), st.Message(), tt.wantCode)
			}
			if st.Message() == "" {
				t.Error("empty status message")
			}
			var details []proto.Message
			for _, d := range st.Details() {
				m, ok := d.(proto.Message)
				if !ok {
					t.Fatalf("undecodable detail %v", d)
				}
				details = append(details, m)
			}
			checkErrorInfo(t, details, tt.wantReason, tt.wantMeta)
			if tt.check != nil {
				tt.check(t, details)
			}
		})
	}
}

// TestGRPCGoHeaders checks that grpc-go metadata reaches the bridge like
// HTTP headers do.
func TestGRPCGoHeaders(t *testing.T) {
	t.Parallel()
	fake := newFake(t, smartassisttest.WithPassThroughToken("tok-grpc-go"))
	b := startBridgeFor(t, fake, func(o *bridgeConfig) { o.noTokens = true })
	conn := newGRPCConn(t, b.Addr)

	ctx := metadataContext(t, "authorization", "Bearer tok-grpc-go", "x-request-id", "req-grpc-go")
	got := new(smartassistv1.GetConversationResponse)
	err := conn.Invoke(ctx, getConversationMethod, sampleRequest(), got)
	checkSample(t, got, err)
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests, want 1", len(reqs))
	}
	gotHeaders := map[string]string{"auth": reqs[0].Header.Get("auth"), "X-Request-Id": reqs[0].Header.Get("X-Request-Id")}
	want := map[string]string{"auth": "tok-grpc-go", "X-Request-Id": "req-grpc-go"}
	if diff := cmp.Diff(want, gotHeaders, protocmp.Transform()); diff != "" {
		t.Errorf("upstream headers (-want +got):\n%s", diff)
	}
}
