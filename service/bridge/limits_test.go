package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/bridge"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/telemetry"
)

// panickyUpstream panics for the conversation "c-panic" and serves the
// sample otherwise.
type panickyUpstream struct{ service.Upstream }

func (panickyUpstream) GetConversation(_ context.Context, req smartassist.Request) ([]byte, error) {
	if req.ConversationID == "c-panic" {
		panic("upstream exploded")
	}
	return demo.Conversation, nil
}

// TestPanicRecovery checks that a panic while serving a call becomes an
// opaque internal error for the caller and an error log line with the
// stack for us, and that the bridge keeps serving.
func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	metrics := telemetry.NewMetrics()
	b := startBridge(t, bridge.Options{
		Service: service.Options{Upstream: panickyUpstream{}},
		Logger:  slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: metrics,
	}, bridge.ServeOptions{})
	panicking := &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: "c-panic"}

	connectClient := newClient(t, b.URL, false)
	_, err := connectClient.GetConversation(t.Context(), panicking)
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeInternal || cerr.Message() != "internal error" {
		t.Errorf("connect: got %v, want internal: internal error", err)
	}
	if strings.Contains(err.Error(), "exploded") {
		t.Errorf("the panic value reached the caller: %v", err)
	}

	conn := newGRPCConn(t, b.Addr)
	err = conn.Invoke(t.Context(), getConversationMethod, panicking, new(smartassistv1.GetConversationResponse))
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Errorf("grpc-go: got %v, want Internal: internal error", err)
	}

	// Still serving, on the same connections.
	got, err := connectClient.GetConversation(t.Context(), sampleRequest())
	checkSample(t, got, err)
	res := new(smartassistv1.GetConversationResponse)
	err = conn.Invoke(t.Context(), getConversationMethod, sampleRequest(), res)
	checkSample(t, res, err)

	if err := b.Stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	lines := logLines(t, logs.String())
	var panics, panicAccess int
	for _, l := range lines {
		switch {
		case l["msg"] == "panic serving RPC":
			panics++
			if l["level"] != "ERROR" || !strings.Contains(str(l["stack"]), "panickyUpstream") || l["panic"] != "upstream exploded" {
				t.Errorf("panic log line lacks level, stack or value: %v", l)
			}
		case l["msg"] == "rpc" && l["code"] == "internal":
			panicAccess++
		}
	}
	if panics != 2 {
		t.Errorf("%d panic log lines, want 2:\n%s", panics, logs.String())
	}
	// One access line per RPC, a panicking one included.
	if panicAccess != 2 {
		t.Errorf("%d access log lines with code internal for the 2 panicking calls, want 2:\n%s", panicAccess, logs.String())
	}
	// And every RPC counted, a panicking one included.
	if got := countRPCs(t, metrics, "internal"); got != 2 {
		t.Errorf("rpcs_total{code=\"internal\"} = %v for the 2 panicking calls, want 2", got)
	}
	if got := countRPCs(t, metrics, "ok"); got != 2 {
		t.Errorf("rpcs_total{code=\"ok\"} = %v, want 2", got)
	}
}

// countRPCs sums the smartassist_bridge_rpcs_total counters of GetConversation
// with code.
func countRPCs(t *testing.T, m *telemetry.Metrics, code string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != "smartassist_bridge_rpcs_total" {
			continue
		}
		for _, metric := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["code"] == code && labels["procedure"] == getConversationMethod {
				sum += metric.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestMaxRequestBytes checks that request messages above MaxRequestBytes
// (counted after decompression) are refused before they are decoded, and
// that messages below it are not.
func TestMaxRequestBytes(t *testing.T) {
	t.Parallel()
	const limit = 2048
	fake := newFake(t)
	b := startBridgeFor(t, fake, func(bc *bridgeConfig) { bc.options.MaxRequestBytes = limit })
	defaultLimit := startBridgeFor(t, fake) // 1 MiB

	// withID returns a request of about n bytes, all of it in one
	// (invalid, over-long) conversation id.
	withID := func(n int) *smartassistv1.GetConversationRequest {
		return &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: strings.Repeat("c", n)}
	}
	tests := []struct {
		name     string
		b        *runningBridge
		h2c      bool
		opts     []connecthttp.Option
		req      *smartassistv1.GetConversationRequest
		wantCode connect.Code
	}{
		{"connect under", b, false, nil, withID(limit / 2), connect.CodeInvalidArgument},
		{"connect over", b, false, nil, withID(limit + 1), connect.CodeResourceExhausted},
		{"connect json over", b, false, []connecthttp.Option{connecthttp.WithProtoJSON()}, withID(limit + 1), connect.CodeResourceExhausted},
		{"connect gzip over when inflated", b, false, []connecthttp.Option{connecthttp.WithSendGzip()}, withID(100 * limit), connect.CodeResourceExhausted},
		{"connect get over", b, false, []connecthttp.Option{connecthttp.WithHTTPGet()}, withID(limit + 1), connect.CodeResourceExhausted},
		{"grpc under", b, true, []connecthttp.Option{connecthttp.WithGRPC()}, withID(limit / 2), connect.CodeInvalidArgument},
		{"grpc over", b, true, []connecthttp.Option{connecthttp.WithGRPC()}, withID(limit + 1), connect.CodeResourceExhausted},
		{"grpc gzip over when inflated", b, true, []connecthttp.Option{connecthttp.WithGRPC(), connecthttp.WithSendGzip()}, withID(100 * limit), connect.CodeResourceExhausted},
		{"grpc-web over", b, false, []connecthttp.Option{connecthttp.WithGRPCWeb()}, withID(limit + 1), connect.CodeResourceExhausted},
		{"default limit under", defaultLimit, false, nil, withID(512 << 10), connect.CodeInvalidArgument},
		{"default limit over", defaultLimit, false, nil, withID(1<<20 + 1), connect.CodeResourceExhausted},
	}
	t.Run("group", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				_, err := newClient(t, tt.b.URL, tt.h2c, tt.opts...).GetConversation(t.Context(), tt.req)
				if code := connect.CodeOf(err); code != tt.wantCode {
					t.Errorf("code %v (%v), want %v", code, err, tt.wantCode)
				}
			})
		}
	})
	t.Run("grpc-go over", func(t *testing.T) {
		err := newGRPCConn(t, b.Addr).Invoke(t.Context(), getConversationMethod, withID(limit+1), new(smartassistv1.GetConversationResponse))
		if code := status.Code(err); code != codes.ResourceExhausted {
			t.Errorf("code %v (%v), want ResourceExhausted", code, err)
		}
	})
	if got := fake.Hits(); got != 0 {
		t.Errorf("SmartAssist saw %d requests, want 0", got)
	}
}

// logLines parses JSON log output, one object a line.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		lines = append(lines, m)
	}
	return lines
}

// str returns v as a string, or "" when it is none.
func str(v any) string {
	s, _ := v.(string)
	return s
}
