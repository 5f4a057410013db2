package bridge_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/google/go-cmp/cmp"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

// jsonLogger logs JSON lines, debug level and up, into buf.
func jsonLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestAccessLog checks the access log: one line per RPC with procedure,
// protocol, code, duration, SmartAssist's status and the request id.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	fake := newFake(t)
	b := startBridgeFor(t, fake, func(bc *bridgeConfig) { bc.options.Logger = jsonLogger(&logs) })

	calls := []struct {
		requestID string
		h2c       bool
		opts      []connecthttp.Option
		req       *smartassistv1.GetConversationRequest
	}{
		{"req-ok", false, nil, sampleRequest()},
		{"req-not-found", true, []connecthttp.Option{connecthttp.WithGRPC()}, &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: "c-missing"}},
		{"req-invalid", false, []connecthttp.Option{connecthttp.WithGRPCWeb()}, &smartassistv1.GetConversationRequest{StreamId: "a/b", ConversationId: demo.ConversationID}},
		{"", false, []connecthttp.Option{connecthttp.WithProtoJSON()}, sampleRequest()},
	}
	for _, c := range calls {
		ctx := t.Context()
		if c.requestID != "" {
			ctx = withHeaders(ctx, "X-Request-Id", c.requestID)
		}
		_, _ = newClient(t, b.URL, c.h2c, c.opts...).GetConversation(ctx, c.req)
	}
	if _, err := healthpb.NewHealthClient(newGRPCConn(t, b.Addr)).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health Check: %v", err)
	}
	if err := b.Stop(); err != nil { // every call's line is written by now
		t.Fatalf("Serve: %v", err)
	}

	type accessLine struct {
		Level, Procedure, Protocol, Code, UpstreamStatus, RequestID string
	}
	var got []accessLine
	for _, l := range logLines(t, logs.String()) {
		if l["msg"] != "rpc" {
			continue
		}
		if d, ok := l["duration"].(float64); !ok || d <= 0 {
			t.Errorf("access line without a positive duration: %v", l)
		}
		got = append(got, accessLine{
			Level:          str(l["level"]),
			Procedure:      str(l["procedure"]),
			Protocol:       str(l["protocol"]),
			Code:           str(l["code"]),
			UpstreamStatus: str(l["upstream_status"]),
			RequestID:      str(l["request_id"]),
		})
	}
	want := []accessLine{
		{"INFO", getConversationMethod, "connect", "ok", "200", "req-ok"},
		{"INFO", getConversationMethod, "grpc", "not_found", "404", "req-not-found"},
		{"INFO", getConversationMethod, "grpcweb", "invalid_argument", "", "req-invalid"},
		{"INFO", getConversationMethod, "connect", "ok", "200", ""},
		{"DEBUG", "/grpc.health.v1.Health/Check", "grpc", "ok", "", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access lines (-want +got):\n%s\nlog:\n%s", diff, logs.String())
	}
}

// TestNoSecretsLeak runs calls that succeed and calls that fail in both
// authentication modes, and searches everything the bridge logged and
// everything callers got back (messages and details) for the client
// secret, the callers' tokens and the JWTs minted from the secret.
func TestNoSecretsLeak(t *testing.T) {
	t.Parallel()
	secret := "s3cr3t-value-" + randomHex(t)
	token := "tok-" + randomHex(t)
	wrongToken := "tok-wrong-" + randomHex(t)
	secrets := []string{secret, token, wrongToken}

	var logs syncBuffer
	var seen []string // everything the callers got back
	record := func(err error) {
		if err == nil {
			return
		}
		seen = append(seen, err.Error(), fmt.Sprintf("%+v", err))
		var cerr *connect.Error
		if errors.As(err, &cerr) {
			seen = append(seen, cerr.Message())
			for _, d := range cerr.Details() {
				seen = append(seen, string(d.Value), d.Type)
			}
			for _, m := range connectDetails(t, err) {
				seen = append(seen, prototext.Format(m))
			}
		}
		if st, ok := status.FromError(err); ok {
			seen = append(seen, st.Message())
			for _, d := range st.Details() {
				if m, ok := d.(proto.Message); ok {
					seen = append(seen, prototext.Format(m))
				}
			}
		}
	}
	missing := &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: "c-missing"}
	invalid := &smartassistv1.GetConversationRequest{StreamId: "a/b", ConversationId: demo.ConversationID}
	rejected := &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: "c-rejected"}

	// Client credentials: the bridge mints JWTs from the secret.
	ccFake := newFake(t, smartassisttest.WithSecret(testClientID, []byte(secret)))
	ccFake.Script("c-rejected", smartassisttest.Response{Status: 401, Body: smartAssistError("invalid token", `"401"`)})
	cc := startBridgeFor(t, ccFake, func(bc *bridgeConfig) {
		bc.upstream = func(c *smartassist.Config) {
			c.Tokens = &smartassist.ClientCredentials{ClientID: testClientID, Secret: []byte(secret)}
		}
		bc.options.Logger = jsonLogger(&logs)
	})
	// Pass-through: callers send their own tokens, and SmartAssist echoes
	// a rejected one in its error message.
	ptFake := newFake(t, smartassisttest.WithPassThroughToken(token))
	ptFake.Script("c-rejected", smartassisttest.Response{Status: 401, Body: smartAssistError("token "+token+" is not valid for this app", `"401"`)})
	pt := startBridgeFor(t, ptFake, func(bc *bridgeConfig) {
		bc.noTokens = true
		bc.options.Logger = jsonLogger(&logs)
	})

	protocols := []struct {
		name string
		h2c  bool
		opts []connecthttp.Option
	}{
		{"connect json", false, []connecthttp.Option{connecthttp.WithProtoJSON()}},
		{"grpc", true, []connecthttp.Option{connecthttp.WithGRPC()}},
		{"grpc-web", false, []connecthttp.Option{connecthttp.WithGRPCWeb()}},
	}
	for _, p := range protocols {
		ccClient := newClient(t, cc.URL, p.h2c, p.opts...)
		ptClient := newClient(t, pt.URL, p.h2c, p.opts...)
		for _, req := range []*smartassistv1.GetConversationRequest{sampleRequest(), missing, invalid, rejected} {
			_, err := ccClient.GetConversation(withHeaders(t.Context(), "X-Request-Id", "cc-"+p.name), req)
			record(err)
			for _, auth := range [][]string{
				{"auth", token},
				{"Authorization", "Bearer " + token},
				{"auth", wrongToken},
				{"Cookie", "session=" + token},
			} {
				_, err := ptClient.GetConversation(withHeaders(t.Context(), auth...), req)
				record(err)
			}
		}
	}
	// And through grpc-go.
	conn := newGRPCConn(t, pt.Addr)
	for _, req := range []*smartassistv1.GetConversationRequest{sampleRequest(), missing, invalid, rejected} {
		err := conn.Invoke(metadataContext(t, "auth", token), getConversationMethod, req, new(smartassistv1.GetConversationResponse))
		record(err)
		err = conn.Invoke(metadataContext(t, "authorization", "Bearer "+wrongToken), getConversationMethod, req, new(smartassistv1.GetConversationResponse))
		record(err)
	}

	if err := cc.Stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := pt.Stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}

	// The JWTs the bridge minted, as SmartAssist received them.
	jwts := map[string]bool{}
	for _, r := range ccFake.Requests() {
		if auth := r.Header.Get("auth"); auth != "" {
			jwts[auth] = true
		}
	}
	if len(jwts) == 0 {
		t.Fatal("SmartAssist received no minted JWT; the test is not testing")
	}
	for jwt := range jwts {
		secrets = append(secrets, jwt)
		if _, sig, ok := strings.Cut(jwt[strings.Index(jwt, ".")+1:], "."); ok {
			secrets = append(secrets, sig)
		}
	}
	if len(seen) < 10 {
		t.Fatalf("only %d error texts collected; the test is not testing", len(seen))
	}
	haystacks := map[string]string{"log": logs.String(), "errors returned to callers": strings.Join(seen, "\n")}
	for where, text := range haystacks {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contain the secret or token %q:\n%s", where, s, text)
			}
		}
	}
	// Sanity: the pass-through fake did see the callers' tokens, so they
	// were in play.
	if !slicesContainsHeader(ptFake.Requests(), "auth", token) {
		t.Error("SmartAssist never received the pass-through token; the test is not testing")
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func slicesContainsHeader(reqs []smartassisttest.RecordedRequest, name, value string) bool {
	for _, r := range reqs {
		if http.Header(r.Header).Get(name) == value {
			return true
		}
	}
	return false
}
