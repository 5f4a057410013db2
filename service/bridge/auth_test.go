package bridge_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/google/go-cmp/cmp"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

const (
	testClientID = "cs-bridge-test"
	testToken    = "tok-caller-4f2b9c"
)

var testSecret = []byte("s3cr3t-signing-key-for-tests")

// TestAuthModes checks each way the bridge authenticates to SmartAssist:
// JWTs it mints from client credentials (the fake verifies signature and
// claims), the caller's own JWT in "auth" or "Authorization: Bearer", and
// neither.
func TestAuthModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		credentials bool     // the bridge has client credentials
		headers     []string // request headers, name, value...
		wantCode    connect.Code
		wantReason  string
		wantAuth    string // the upstream "auth" header; "jwt" for a minted one
		wantHits    int
	}{
		{name: "client credentials", credentials: true, wantAuth: "jwt", wantHits: 1},
		{name: "auth header", headers: []string{"auth", testToken}, wantAuth: testToken, wantHits: 1},
		{name: "authorization bearer", headers: []string{"authorization", "Bearer " + testToken}, wantAuth: testToken, wantHits: 1},
		{name: "authorization bearer in lower case", headers: []string{"authorization", "bearer  " + testToken}, wantAuth: testToken, wantHits: 1},
		{name: "auth header wins over authorization", headers: []string{"auth", testToken, "authorization", "Bearer other"}, wantAuth: testToken, wantHits: 1},
		{name: "caller's token wins over client credentials", credentials: true, headers: []string{"auth", testToken}, wantAuth: testToken, wantHits: 1},
		{name: "basic authorization falls back to client credentials", credentials: true, headers: []string{"authorization", "Basic dXNlcjpwdw=="}, wantAuth: "jwt", wantHits: 1},
		{
			name:       "no credentials",
			wantCode:   connect.CodeUnauthenticated,
			wantReason: "MISSING_CREDENTIALS",
		},
		{
			name:       "basic authorization is no credential",
			headers:    []string{"authorization", "Basic dXNlcjpwdw=="},
			wantCode:   connect.CodeUnauthenticated,
			wantReason: "MISSING_CREDENTIALS",
		},
		{
			name:       "empty bearer",
			headers:    []string{"authorization", "Bearer "},
			wantCode:   connect.CodeUnauthenticated,
			wantReason: "MISSING_CREDENTIALS",
		},
		{
			name:       "wrong token",
			headers:    []string{"auth", "tok-wrong"},
			wantCode:   connect.CodeUnauthenticated,
			wantReason: "UPSTREAM_UNAUTHENTICATED",
			wantHits:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t, smartassisttest.WithSecret(testClientID, testSecret), smartassisttest.WithPassThroughToken(testToken))
			b := startBridgeFor(t, fake, func(bc *bridgeConfig) {
				bc.noTokens = !tt.credentials
				if tt.credentials {
					bc.upstream = func(c *smartassist.Config) {
						c.Tokens = &smartassist.ClientCredentials{ClientID: testClientID, Secret: testSecret}
					}
				}
			})

			ctx := withHeaders(t.Context(), tt.headers...)
			got, err := newClient(t, b.URL, false).GetConversation(ctx, sampleRequest())
			if tt.wantCode == 0 {
				checkSample(t, got, err)
			} else {
				if code := connect.CodeOf(err); code != tt.wantCode {
					t.Fatalf("code %v (%v), want %v", code, err, tt.wantCode)
				}
				checkErrorInfo(t, connectDetails(t, err), tt.wantReason, nil)
			}

			reqs := fake.Requests()
			if len(reqs) != tt.wantHits {
				t.Fatalf("SmartAssist saw %d requests, want %d", len(reqs), tt.wantHits)
			}
			if tt.wantAuth == "" {
				return
			}
			auth := reqs[0].Header.Get("auth")
			if tt.wantAuth == "jwt" {
				if strings.Count(auth, ".") != 2 || auth == testToken {
					t.Errorf("upstream auth %q, want a minted JWT", auth)
				}
			} else if auth != tt.wantAuth {
				t.Errorf("upstream auth %q, want %q", auth, tt.wantAuth)
			}
		})
	}
}

// TestForwardedHeaders checks that only the correlation and trace headers
// of a call travel to SmartAssist: never cookies, other credentials or
// arbitrary headers.
func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h2c  bool
		opts []connecthttp.Option
	}{
		{"connect", false, nil},
		{"grpc", true, []connecthttp.Option{connecthttp.WithGRPC()}},
		{"grpc-web", false, []connecthttp.Option{connecthttp.WithGRPCWeb()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t, smartassisttest.WithSecret(testClientID, testSecret))
			b := startBridgeFor(t, fake, func(bc *bridgeConfig) {
				bc.upstream = func(c *smartassist.Config) {
					c.Tokens = &smartassist.ClientCredentials{ClientID: testClientID, Secret: testSecret}
				}
			})

			forwarded := map[string]string{
				"X-Request-Id": "req-7d1e",
				"Traceparent":  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
				"Tracestate":   "vendor=opaque",
				"Baggage":      "tenant=acme",
			}
			ctx := withHeaders(t.Context(),
				"Cookie", "session=cookie-secret",
				"X-Secret", "x-secret-value",
				"Authorization", "Basic dXNlcjpwYXNzd29yZA==",
				"Accountid", "acc-injected",
				"X-Forwarded-For", "203.0.113.7",
				"X-Request-Id", forwarded["X-Request-Id"],
				"traceparent", forwarded["Traceparent"],
				"tracestate", forwarded["Tracestate"],
				"baggage", forwarded["Baggage"],
			)
			got, err := newClient(t, b.URL, tt.h2c, tt.opts...).GetConversation(ctx, sampleRequest())
			checkSample(t, got, err)

			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("SmartAssist saw %d requests, want 1", len(reqs))
			}
			h := reqs[0].Header
			for _, name := range []string{"Cookie", "X-Secret", "Authorization", "Accountid", "X-Forwarded-For"} {
				if v := h.Values(name); len(v) > 0 {
					t.Errorf("%s reached SmartAssist: %q", name, v)
				}
			}
			gotForwarded := map[string]string{}
			for name := range forwarded {
				gotForwarded[name] = h.Get(name)
			}
			if diff := cmp.Diff(forwarded, gotForwarded); diff != "" {
				t.Errorf("forwarded headers (-want +got):\n%s", diff)
			}
			if auth := h.Get("auth"); strings.Count(auth, ".") != 2 {
				t.Errorf("upstream auth %q, want the minted JWT", auth)
			}
		})
	}
}

// TestAccountID checks the accountId header: the request's account, or the
// bridge's default when it names none.
func TestAccountID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		defaultAccount string
		account        string
		want           []string // upstream accountId values
	}{
		{"default", "acc-default", "", []string{"acc-default"}},
		{"request wins", "acc-default", "acc-request", []string{"acc-request"}},
		{"none", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			b := startBridgeFor(t, fake, func(bc *bridgeConfig) { bc.options.Service.DefaultAccountID = tt.defaultAccount })
			req := sampleRequest()
			req.AccountId = tt.account
			got, err := newClient(t, b.URL, false).GetConversation(t.Context(), req)
			checkSample(t, got, err)
			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("SmartAssist saw %d requests, want 1", len(reqs))
			}
			if diff := cmp.Diff(tt.want, reqs[0].Header.Values("accountId")); diff != "" {
				t.Errorf("accountId (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConcurrentTokenReuse makes many calls at once in client-credentials
// mode: one token is minted and every request carries it.
func TestConcurrentTokenReuse(t *testing.T) {
	t.Parallel()
	const calls = 50
	fake := newFake(t, smartassisttest.WithSecret(testClientID, testSecret))
	var mints atomic.Int32
	b := startBridgeFor(t, fake, func(bc *bridgeConfig) {
		bc.upstream = func(c *smartassist.Config) {
			c.Tokens = &smartassist.ClientCredentials{ClientID: testClientID, Secret: testSecret, OnMint: func() { mints.Add(1) }}
		}
	})
	grpcClient := newClient(t, b.URL, true, connecthttp.WithGRPC())
	connectClient := newClient(t, b.URL, false)

	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		client := grpcClient
		if i%2 == 1 {
			client = connectClient
		}
		wg.Go(func() {
			_, err := client.GetConversation(context.WithoutCancel(t.Context()), sampleRequest())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("GetConversation: %v", err)
		}
	}

	tokens := map[string]int{}
	for _, r := range fake.Requests() {
		tokens[r.Header.Get("auth")]++
	}
	if len(tokens) != 1 {
		t.Errorf("SmartAssist saw %d distinct tokens, want 1", len(tokens))
	}
	for tok, n := range tokens {
		if n != calls {
			t.Errorf("token %.12s... used %d times, want %d", tok, n, calls)
		}
	}
	if got := mints.Load(); got != 1 {
		t.Errorf("minted %d tokens, want 1", got)
	}
}
