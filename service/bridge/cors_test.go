package bridge_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/bridge"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
)

const allowedOrigin = "http://allowed.example"

// browserHeaders are the request headers a browser client of the bridge
// asks to send: the Connect and gRPC-Web protocol headers, SmartAssist
// credentials, and correlation and trace context.
var browserHeaders = []string{
	"content-type", "connect-protocol-version", "connect-timeout-ms",
	"x-grpc-web", "x-user-agent", "grpc-timeout",
	"auth", "authorization", "x-request-id", "traceparent",
}

// TestCORS checks what browsers are told: the configured origins may call
// with the headers Connect and gRPC-Web need and read the headers and
// trailers they answer with; other origins, and every origin when none is
// configured, get no CORS headers.
func TestCORS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		origins  []string
		origin   string
		allowed  bool
		wantACAO string // expected Access-Control-Allow-Origin when allowed
	}{
		{"listed origin", []string{allowedOrigin}, allowedOrigin, true, allowedOrigin},
		{"second listed origin", []string{"https://other.example", allowedOrigin}, allowedOrigin, true, allowedOrigin},
		{"any origin", []string{"*"}, allowedOrigin, true, "*"},
		{"unlisted origin", []string{allowedOrigin}, "http://evil.example", false, ""},
		{"origin differing in port", []string{allowedOrigin}, allowedOrigin + ":8080", false, ""},
		{"origin differing in scheme", []string{allowedOrigin}, "https://allowed.example", false, ""},
		{"no origins configured", nil, allowedOrigin, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			h := bridge.New(bridge.Options{
				Service:     service.Options{Upstream: newUpstream(t, fake.URL, nil)},
				CORSOrigins: tt.origins,
			}).Handler()

			t.Run("preflight", func(t *testing.T) {
				req := httptest.NewRequestWithContext(t.Context(), http.MethodOptions, getConversationMethod, nil)
				req.Header.Set("Origin", tt.origin)
				req.Header.Set("Access-Control-Request-Method", http.MethodPost)
				// As browsers send it (Fetch standard): lower case, sorted,
				// comma-separated.
				requested := slices.Sorted(slices.Values(browserHeaders))
				req.Header.Set("Access-Control-Request-Headers", strings.Join(requested, ","))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				res := rec.Result()

				if !tt.allowed {
					checkNoCORS(t, res.Header, len(tt.origins) == 0)
					return
				}
				if res.StatusCode/100 != 2 {
					t.Errorf("preflight status %d, want 2xx", res.StatusCode)
				}
				if got := res.Header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
					t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.wantACAO)
				}
				methods := headerList(res.Header, "Access-Control-Allow-Methods")
				if !slices.Contains(methods, "post") {
					t.Errorf("Access-Control-Allow-Methods %q lacks POST", methods)
				}
				allowed := headerList(res.Header, "Access-Control-Allow-Headers")
				for _, name := range browserHeaders {
					if !slices.Contains(allowed, name) {
						t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, name)
					}
				}
				if res.Header.Get("Access-Control-Max-Age") == "" {
					t.Error("no Access-Control-Max-Age: browsers would preflight every call")
				}
			})

			t.Run("preflight of a header nobody needs", func(t *testing.T) {
				req := httptest.NewRequestWithContext(t.Context(), http.MethodOptions, getConversationMethod, nil)
				req.Header.Set("Origin", tt.origin)
				req.Header.Set("Access-Control-Request-Method", http.MethodPost)
				req.Header.Set("Access-Control-Request-Headers", "x-secret")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if got := rec.Result().Header.Get("Access-Control-Allow-Headers"); strings.Contains(strings.ToLower(got), "x-secret") {
					t.Errorf("x-secret allowed: %q", got)
				}
			})

			t.Run("call", func(t *testing.T) {
				body := `{"streamId":"` + demo.StreamID + `","conversationId":"` + demo.ConversationID + `"}`
				req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, getConversationMethod, strings.NewReader(body))
				req.Header.Set("Origin", tt.origin)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Connect-Protocol-Version", "1")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				res := rec.Result()

				// CORS is the browser's business: the server answers
				// either way.
				if res.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", res.StatusCode, rec.Body)
				}
				if !tt.allowed {
					checkNoCORS(t, res.Header, len(tt.origins) == 0)
					return
				}
				if got := res.Header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
					t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.wantACAO)
				}
				exposed := headerList(res.Header, "Access-Control-Expose-Headers")
				for _, name := range []string{"grpc-status", "grpc-message", "grpc-status-details-bin"} {
					if !slices.Contains(exposed, name) {
						t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, name)
					}
				}
			})
		})
	}
}

// checkNoCORS fails the test if h lets a browser in; with none set, it
// must not carry any Access-Control header at all.
func checkNoCORS(t *testing.T, h http.Header, none bool) {
	t.Helper()
	if got := h.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Access-Control-Allow-Origin %q, want none", got)
	}
	if !none {
		return
	}
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "access-control-") {
			t.Errorf("%s: %q, want no CORS headers", name, h.Values(name))
		}
	}
}

// headerList returns the comma-separated values of h's name, lower-cased.
func headerList(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, strings.ToLower(part))
			}
		}
	}
	return out
}
