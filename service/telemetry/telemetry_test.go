package telemetry_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/bridge"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
	"github.com/smartassist-bridge/smartassist-bridge/service/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a bridge on a real listener in front of the fake SmartAssist.
type env struct {
	fake   *smartassisttest.Server
	client smartassistv1connect.ConversationServiceClient
	grpc   smartassistv1connect.ConversationServiceClient
}

func start(t *testing.T, metrics *telemetry.Metrics, tp trace.TracerProvider, tokens smartassist.TokenSource, fakeOpts ...smartassisttest.Option) *env {
	t.Helper()
	fake := smartassisttest.NewServer(t, append([]smartassisttest.Option{
		smartassisttest.WithConversation(demo.StreamID, demo.ConversationID, demo.Conversation),
	}, fakeOpts...)...)
	cfg := smartassist.Config{BaseURL: fake.URL, Tokens: tokens, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond}
	if metrics != nil {
		cfg.Hooks = metrics.UpstreamHooks()
	}
	if tp != nil {
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return telemetry.UpstreamTransport(tp, rt) }
	}
	up, err := smartassist.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	b := bridge.New(bridge.Options{Service: service.Options{Upstream: up}, Metrics: metrics, TracerProvider: tp})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- b.Serve(ctx, ln, bridge.ServeOptions{ShutdownTimeout: 5 * time.Second}) }()
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	h1 := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		h2c.CloseIdleConnections()
		h1.CloseIdleConnections()
	})
	base := "http://" + ln.Addr().String()
	return &env{
		fake:   fake,
		client: smartassistv1connect.NewConversationServiceClient(connect.NewClient(connecthttp.NewTransport(h1, base, connecthttp.WithProtoJSON()))),
		grpc:   smartassistv1connect.NewConversationServiceClient(connect.NewClient(connecthttp.NewTransport(h2c, base, connecthttp.WithGRPC()))),
	}
}

func scrape(t *testing.T, m *telemetry.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return families
}

// value returns the counter or gauge value, or the histogram's sample
// count, of the series of family name with exactly the given labels.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f, ok := families[name]
	if !ok {
		t.Fatalf("no metric family %s", name)
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if got[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("%s has no series %v", name, labels)
	return 0
}

const getProc = "/smartassist.v1.ConversationService/GetConversation"

// TestMetrics runs a few calls and reads the metrics back with the
// Prometheus text parser.
func TestMetrics(t *testing.T) {
	metrics := telemetry.NewMetrics()
	creds := &smartassist.ClientCredentials{ClientID: "app", Secret: []byte("secret"), OnMint: metrics.TokenMinted}
	e := start(t, metrics, nil, creds)
	ctx := t.Context()
	ok := &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: demo.ConversationID}

	if _, err := e.client.GetConversation(ctx, ok); err != nil {
		t.Fatal(err)
	}
	e.fake.Script(demo.ConversationID, smartassisttest.Response{Status: 503})
	if _, err := e.grpc.GetConversation(ctx, ok); err != nil {
		t.Fatal(err) // the bridge retried past the 503
	}
	if _, err := e.grpc.GetConversation(ctx, &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: "c-missing"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("missing conversation: %v", err)
	}
	if _, err := e.client.GetConversation(ctx, &smartassistv1.GetConversationRequest{StreamId: "../x", ConversationId: "c"}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("invalid id: %v", err)
	}

	f := scrape(t, metrics)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"smartassist_bridge_rpcs_total", map[string]string{"procedure": getProc, "protocol": "connect", "code": "ok"}, 1},
		{"smartassist_bridge_rpcs_total", map[string]string{"procedure": getProc, "protocol": "grpc", "code": "ok"}, 1},
		{"smartassist_bridge_rpcs_total", map[string]string{"procedure": getProc, "protocol": "grpc", "code": "not_found"}, 1},
		{"smartassist_bridge_rpcs_total", map[string]string{"procedure": getProc, "protocol": "connect", "code": "invalid_argument"}, 1},
		{"smartassist_bridge_rpc_duration_seconds", map[string]string{"procedure": getProc, "protocol": "connect", "code": "ok"}, 1},
		{"smartassist_bridge_rpc_response_message_size_bytes", map[string]string{"procedure": getProc, "protocol": "grpc"}, 1},
		{"smartassist_bridge_rpcs_in_flight", map[string]string{"procedure": getProc}, 0},
		{"smartassist_bridge_upstream_requests_total", map[string]string{"status": "200"}, 2},
		{"smartassist_bridge_upstream_requests_total", map[string]string{"status": "503"}, 1},
		{"smartassist_bridge_upstream_requests_total", map[string]string{"status": "404"}, 1},
		{"smartassist_bridge_upstream_request_duration_seconds", map[string]string{"status": "200"}, 2},
		{"smartassist_bridge_upstream_retries_total", map[string]string{}, 1},
		{"smartassist_bridge_token_mints_total", map[string]string{}, 1},
	}
	for _, c := range checks {
		if got := value(t, f, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Cardinality: no id ever becomes a label value.
	for name, fam := range f {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "c-") || strings.Contains(l.GetValue(), "st-") {
					t.Errorf("%s has an id in label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
	if _, ok := f["go_goroutines"]; !ok {
		t.Error("Go runtime metrics missing")
	}
}

// TestTracing: the RPC span continues the caller's trace, the upstream
// span is its child, and SmartAssist receives the upstream span's
// traceparent.
func TestTracing(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	e := start(t, nil, tp, nil)

	const (
		callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		callerSpan  = "00f067aa0ba902b7"
	)
	ctx, info := connect.NewClientContext(t.Context())
	info.RequestHeader().Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	info.RequestHeader().Set("auth", "caller-token")
	if _, err := e.grpc.GetConversation(ctx, &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: demo.ConversationID}); err != nil {
		t.Fatal(err)
	}

	var server, upstream sdktrace.ReadOnlySpan
	for _, s := range recorder.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindClient:
			upstream = s
		}
	}
	if server == nil || upstream == nil {
		t.Fatalf("want a server and a client span, got %d spans", len(recorder.Ended()))
	}
	if got := server.Name(); got != "smartassist.v1.ConversationService/GetConversation" {
		t.Errorf("server span name %q", got)
	}
	if got := server.SpanContext().TraceID().String(); got != callerTrace {
		t.Errorf("server span trace %s, want the caller's %s", got, callerTrace)
	}
	if got := server.Parent().SpanID().String(); got != callerSpan || !server.Parent().IsRemote() {
		t.Errorf("server span parent %s (remote %v), want the caller's span %s", got, server.Parent().IsRemote(), callerSpan)
	}
	if upstream.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("upstream span parent %s, want the server span %s", upstream.Parent().SpanID(), server.SpanContext().SpanID())
	}
	attrs := map[string]string{}
	for _, kv := range server.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	for k, want := range map[string]string{"rpc.system": "grpc", "rpc.service": "smartassist.v1.ConversationService", "rpc.method": "GetConversation", "rpc.grpc.status_code": "0"} {
		if attrs[k] != want {
			t.Errorf("server span %s = %q, want %q", k, attrs[k], want)
		}
	}
	reqs := e.fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("fake saw %d requests", len(reqs))
	}
	want := "00-" + callerTrace + "-" + upstream.SpanContext().SpanID().String() + "-01"
	if got := reqs[0].Header.Get("traceparent"); got != want {
		t.Errorf("SmartAssist got traceparent %q, want %q", got, want)
	}
	if strings.Contains(upstream.Name(), demo.ConversationID) {
		t.Errorf("upstream span name %q carries an id", upstream.Name())
	}
}

func TestTracingEnabled(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, false},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, false},
	}
	for _, tt := range tests {
		if got := telemetry.TracingEnabled(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("TracingEnabled(%v) = %v, want %v", tt.env, got, tt.want)
		}
	}
}
