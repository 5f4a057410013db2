package callerauth_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"connectrpc.com/connect/v2/connectproto"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service/callerauth"
)

// stubService answers every call, counting them and echoing the caller's
// subject in a response header.
type stubService struct {
	smartassistv1connect.UnimplementedConversationServiceHandler
	calls atomic.Int32
}

const subjectHeader = "X-Test-Caller-Subject"

func (s *stubService) GetConversation(ctx context.Context, _ *smartassistv1.GetConversationRequest) (*smartassistv1.GetConversationResponse, error) {
	s.calls.Add(1)
	info, _ := connect.CallInfoForServerContext(ctx)
	if c, ok := callerauth.CallerFromContext(ctx); ok {
		info.ResponseHeader().Set(subjectHeader, c.Subject)
	} else {
		info.ResponseHeader().Set(subjectHeader, "(none)")
	}
	return &smartassistv1.GetConversationResponse{}, nil
}

// testServer is a connect server over HTTP/1.1 and h2c with the interceptor.
type testServer struct {
	url  string
	stub *stubService
	h1   *http.Client
	h2c  *http.Client
}

func startServer(t *testing.T, v *callerauth.Verifier, public func(string) bool) *testServer {
	t.Helper()
	stub := &stubService{}
	server := connect.NewServer(v.Interceptor(public))
	smartassistv1connect.RegisterConversationServiceHandler(server, stub)
	mux := http.NewServeMux()
	connecthttp.Mount(mux, server)
	hs := httptest.NewUnstartedServer(mux)
	hs.Config.Protocols = new(http.Protocols)
	hs.Config.Protocols.SetHTTP1(true)
	hs.Config.Protocols.SetUnencryptedHTTP2(true)
	hs.Start()
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	ts := &testServer{
		url:  hs.URL,
		stub: stub,
		h1:   &http.Client{Transport: &http.Transport{}},
		h2c:  &http.Client{Transport: &http.Transport{Protocols: protocols}},
	}
	t.Cleanup(func() {
		ts.h1.CloseIdleConnections()
		ts.h2c.CloseIdleConnections()
		hs.Close()
	})
	return ts
}

func (ts *testServer) client(protocol string) smartassistv1connect.ConversationServiceClient {
	var transport connect.Transport
	switch protocol {
	case "connect":
		transport = connecthttp.NewTransport(ts.h1, ts.url, connecthttp.WithProtoJSON())
	case "grpc":
		transport = connecthttp.NewTransport(ts.h2c, ts.url, connecthttp.WithGRPC())
	case "grpcweb":
		transport = connecthttp.NewTransport(ts.h1, ts.url, connecthttp.WithGRPCWeb())
	}
	return smartassistv1connect.NewConversationServiceClient(connect.NewClient(transport))
}

func TestInterceptor(t *testing.T) {
	t.Parallel()
	k := keys()
	v := standardVerifier(t)
	protected := startServer(t, v, nil)
	public := startServer(t, v, func(p string) bool { return p == smartassistv1connect.ConversationServiceGetConversationProcedure })

	valid := "Bearer " + sign(t, k.ed, claims(nil))
	expired := "Bearer " + sign(t, k.ed, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
	tests := []struct {
		name          string
		public        bool
		authorization []string
		wantErr       error // nil: the handler runs
		wantChallenge string
		wantSubject   string
	}{
		{"valid token", false, []string{valid}, nil, "", "caller-1"},
		{"no token", false, nil, callerauth.ErrNoToken, "Bearer", ""},
		{"Basic credentials", false, []string{"Basic dXNlcjpwYXNz"}, callerauth.ErrNoToken, "Bearer", ""},
		{"expired token", false, []string{expired}, callerauth.ErrExpired, `Bearer error="invalid_token", error_description="caller token expired"`, ""},
		{"unknown signer", false, []string{"Bearer " + sign(t, k.rsaOther, claims(nil))}, callerauth.ErrSignature, `Bearer error="invalid_token", error_description="caller token signed by an unknown key"`, ""},
		{"Bearer without token", false, []string{"Bearer"}, callerauth.ErrMalformedHeader, `Bearer error="invalid_request", error_description="malformed Authorization header: want one Bearer <token>"`, ""},
		{"two Authorization headers", false, []string{valid, valid}, callerauth.ErrMalformedHeader, `Bearer error="invalid_request", error_description="malformed Authorization header: want one Bearer <token>"`, ""},
		{"public without token", true, nil, nil, "", "(none)"},
		{"public with a bad token", true, []string{expired}, nil, "", "(none)"},
	}
	for _, protocol := range []string{"connect", "grpc", "grpcweb"} {
		for _, tt := range tests {
			t.Run(protocol+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				ts := protected
				if tt.public {
					ts = public
				}
				ctx, info := connect.NewClientContext(t.Context())
				for _, a := range tt.authorization {
					info.RequestHeader().Add("Authorization", a)
				}
				_, err := ts.client(protocol).GetConversation(ctx, &smartassistv1.GetConversationRequest{StreamId: "s", ConversationId: "c"})
				if tt.wantErr == nil {
					if err != nil {
						t.Fatalf("call: %v", err)
					}
					if got := info.ResponseHeader().Get(subjectHeader); got != tt.wantSubject {
						t.Errorf("handler saw subject %q, want %q", got, tt.wantSubject)
					}
					return
				}
				cerr, ok := errors.AsType[*connect.Error](err)
				if !ok || cerr.Code() != connect.CodeUnauthenticated {
					t.Fatalf("error = %v, want UNAUTHENTICATED", err)
				}
				if cerr.Message() != tt.wantErr.Error() {
					t.Errorf("message %q, want %q", cerr.Message(), tt.wantErr.Error())
				}
				for _, a := range tt.authorization {
					if token := strings.TrimPrefix(a, "Bearer "); len(token) > 8 && strings.Contains(cerr.Error(), token) {
						t.Errorf("error echoes the token")
					}
				}
				if got := info.ResponseHeader().Get("WWW-Authenticate"); got != tt.wantChallenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
				}
				if len(cerr.Details()) != 1 {
					t.Fatalf("details = %v, want one ErrorInfo", cerr.Details())
				}
				msg, err := connectproto.UnmarshalErrorDetail(cerr.Details()[0])
				if ei, ok := msg.(*errdetails.ErrorInfo); err != nil || !ok || ei.GetDomain() != "smartassist-bridge" || ei.GetReason() != "CALLER_UNAUTHENTICATED" {
					t.Errorf("detail = %v (%v), want ErrorInfo smartassist-bridge/CALLER_UNAUTHENTICATED", msg, err)
				}
			})
		}
	}
}

// TestInterceptorStopsTheCall checks, on a server of its own, that a
// refused call never reaches the handler.
func TestInterceptorStopsTheCall(t *testing.T) {
	t.Parallel()
	ts := startServer(t, standardVerifier(t), nil)
	for _, protocol := range []string{"connect", "grpc", "grpcweb"} {
		_, err := ts.client(protocol).GetConversation(t.Context(), &smartassistv1.GetConversationRequest{StreamId: "s", ConversationId: "c"})
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s: %v, want UNAUTHENTICATED", protocol, err)
		}
	}
	if n := ts.stub.calls.Load(); n != 0 {
		t.Errorf("handler ran %d times without a token", n)
	}
}

// TestInterceptorOverRawHTTP shows what a plain HTTP client sees: a Connect
// unary POST gets HTTP 401 with WWW-Authenticate; a gRPC call over h2c gets
// the header with grpc-status 16 (UNAUTHENTICATED).
func TestInterceptorOverRawHTTP(t *testing.T) {
	t.Parallel()
	k := keys()
	ts := startServer(t, standardVerifier(t), nil)
	url := ts.url + smartassistv1connect.ConversationServiceGetConversationProcedure
	expired := "Bearer " + sign(t, k.ec, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
	const challenge = `Bearer error="invalid_token", error_description="caller token expired"`

	t.Run("connect", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(`{"streamId":"s","conversationId":"c"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", expired)
		res, err := ts.h1.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", res.StatusCode)
		}
		if got := res.Header.Get("WWW-Authenticate"); got != challenge {
			t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
		}
		if !bytes.Contains(body, []byte(`"code":"unauthenticated"`)) || !bytes.Contains(body, []byte(`caller token expired`)) {
			t.Errorf("body = %s", body)
		}
	})
	t.Run("grpc", func(t *testing.T) {
		// An empty request message in one gRPC frame: flag 0, length 0.
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(make([]byte, 5)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("TE", "trailers")
		req.Header.Set("Authorization", expired)
		res, err := ts.h2c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.ProtoMajor != 2 {
			t.Errorf("protocol %s, want HTTP/2", res.Proto)
		}
		if got := res.Header.Get("WWW-Authenticate"); got != challenge {
			t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
		}
		status := res.Trailer.Get("Grpc-Status")
		if status == "" {
			status = res.Header.Get("Grpc-Status")
		}
		if status != "16" {
			t.Errorf("grpc-status %q, want 16", status)
		}
	})
	if n := ts.stub.calls.Load(); n != 0 {
		t.Errorf("handler ran %d times", n)
	}
}
