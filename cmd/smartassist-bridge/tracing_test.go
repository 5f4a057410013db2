package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
)

// TestRunExportsTracesOverOTLP: with only the standard OTEL_* variables
// set, the command exports the RPC's span and SmartAssist's client span to
// an OTLP/HTTP collector (a stand-in here), flushing them at shutdown.
func TestRunExportsTracesOverOTLP(t *testing.T) {
	var mu sync.Mutex
	spans := map[string]bool{}
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					spans[s.GetName()] = true
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	defer collector.Close()

	// The OTLP exporter reads the process environment itself, as in
	// production; the command's getenv sees the same values.
	otelEnv := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_SERVICE_NAME":           "bridge-under-test",
	}
	for k, v := range otelEnv {
		t.Setenv(k, v)
	}
	r := start(t, []string{"--listen", "127.0.0.1:0", "--admin-listen", ""}, otelEnv)
	hc := newHTTPClient(t)
	client := smartassistv1connect.NewConversationServiceClient(connect.NewClient(connecthttp.NewTransport(hc, "http://"+r.rpcAddr)))
	got, err := client.GetConversation(t.Context(), sampleRequest())
	checkSample(t, got, err)
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	hc.CloseIdleConnections()

	mu.Lock()
	defer mu.Unlock()
	for _, name := range []string{"smartassist.v1.ConversationService/GetConversation", "SmartAssist GET"} {
		if !spans[name] {
			t.Errorf("collector got no span %q (got %v)", name, spans)
		}
	}
}
