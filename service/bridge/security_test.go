package bridge_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/bridge"
	"github.com/smartassist-bridge/smartassist-bridge/service/cache"
	"github.com/smartassist-bridge/smartassist-bridge/service/callerauth"
)

// TestAccountAllowList: with the bridge's own credentials, a request may
// name only an allowed account; another is refused before anything is
// sent upstream.
func TestAccountAllowList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		account     string
		wantCode    connect.Code // 0: the sample
		wantAccount string       // the accountId SmartAssist sees
	}{
		{name: "no account uses the default", wantAccount: "acc-1"},
		{name: "allowed account", account: "acc-1", wantAccount: "acc-1"},
		{name: "other account", account: "acc-2", wantCode: connect.CodePermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			b := stewardBridge(t, fake, stewardConfig{service: func(o *service.Options) {
				o.DefaultAccountID = "acc-1"
				o.AllowedAccounts = []string{"acc-1"}
			}})
			req := sampleRequest()
			req.AccountId = tt.account
			res, err := newClient(t, b.URL, false).GetConversation(t.Context(), req)
			if tt.wantCode != 0 {
				checkCode(t, err, tt.wantCode)
				checkErrorInfo(t, connectDetails(t, err), "ACCOUNT_NOT_ALLOWED", nil)
				checkHits(t, fake, 0)
				return
			}
			checkSample(t, res, err)
			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("SmartAssist saw %d requests, want 1", len(reqs))
			}
			if got := reqs[0].Header.Get("accountId"); got != tt.wantAccount {
				t.Errorf("accountId %q, want %q", got, tt.wantAccount)
			}
		})
	}
}

// TestMaxResponseBytes: a response over the limit is refused with a
// message naming its size, the limit and the flag; a read_mask that
// shrinks it gets it through.
func TestMaxResponseBytes(t *testing.T) {
	t.Parallel()
	const limit = 1024
	size := proto.Size(wantSample(t))
	if size <= limit {
		t.Fatalf("the sample is %d bytes, not over %d", size, limit)
	}
	tests := []struct {
		name     string
		mask     []string
		wantCode connect.Code
	}{
		{name: "whole conversation", wantCode: connect.CodeResourceExhausted},
		{name: "read mask of the id", mask: []string{"id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			b := stewardBridge(t, fake, stewardConfig{service: func(o *service.Options) { o.MaxResponseBytes = limit }})
			req := sampleRequest()
			if tt.mask != nil {
				req.ReadMask = &fieldmaskpb.FieldMask{Paths: tt.mask}
			}
			res, err := newClient(t, b.URL, false).GetConversation(t.Context(), req)
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("GetConversation: %v", err)
				}
				if got, want := res.GetConversation().GetId(), wantSample(t).GetConversation().GetId(); got != want {
					t.Errorf("id %q, want %q", got, want)
				}
				return
			}
			checkCode(t, err, tt.wantCode)
			var cerr *connect.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("got %T, want a *connect.Error", err)
			}
			msg := cerr.Message()
			for _, want := range []string{strconv.Itoa(size), strconv.Itoa(limit), "--max-response-bytes"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not mention %q", msg, want)
				}
			}
		})
	}
}

// TestMaxResponseBytesEdge: a response exactly at the limit is sent and
// one byte over it is refused, whether it was fetched or served from the
// cache (which knows its size from the fill); the second call is a hit.
func TestMaxResponseBytesEdge(t *testing.T) {
	t.Parallel()
	size := proto.Size(wantSample(t))
	tests := []struct {
		name     string
		cache    *cache.Config
		limit    int
		wantCode connect.Code
	}{
		{name: "no cache, at the limit", limit: size},
		{name: "no cache, one byte over", limit: size - 1, wantCode: connect.CodeResourceExhausted},
		{name: "cache, at the limit", cache: &cache.Config{}, limit: size},
		{name: "cache, one byte over", cache: &cache.Config{}, limit: size - 1, wantCode: connect.CodeResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			b := stewardBridge(t, fake, stewardConfig{cache: tt.cache, service: func(o *service.Options) { o.MaxResponseBytes = tt.limit }})
			client := newClient(t, b.URL, false)
			for call := range 2 {
				res, err := client.GetConversation(t.Context(), sampleRequest())
				if tt.wantCode != 0 {
					checkCode(t, err, tt.wantCode)
					continue
				}
				if err != nil {
					t.Fatalf("call %d: GetConversation: %v", call, err)
				}
				if !proto.Equal(res, wantSample(t)) {
					t.Fatalf("call %d: the answer is not the sample", call)
				}
			}
			wantRequests := 2
			if tt.cache != nil {
				wantRequests = 1
			}
			if got := len(fake.Requests()); got != wantRequests {
				t.Errorf("SmartAssist saw %d requests, want %d", got, wantRequests)
			}
		})
	}
}

const (
	callerIssuer   = "https://issuer.bridge.test"
	callerAudience = "smartassist-bridge"
	callerSubject  = "supervisor-42"
)

// callerKeys is a key pair whose public half is in a JWKS file.
type callerKeys struct {
	key      *ecdsa.PrivateKey
	jwksFile string
}

// newCallerKeys writes a JWKS file holding one new P-256 key.
func newCallerKeys(t *testing.T) callerKeys {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "caller-ec"}})
	if err != nil {
		t.Fatal(err)
	}
	store := jwkset.NewMemoryStorage()
	if err := store.KeyWrite(t.Context(), jwk); err != nil {
		t.Fatal(err)
	}
	data, err := store.JSONPublic(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return callerKeys{key: key, jwksFile: path}
}

// token signs a valid caller token.
func (k callerKeys) token(t *testing.T) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"sub": callerSubject, "iss": callerIssuer, "aud": callerAudience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = "caller-ec"
	s, err := tok.SignedString(k.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCallerAuthentication checks caller authentication through the
// assembled bridge: refused calls never reach SmartAssist, health needs no
// token, the caller's Authorization is never passed on as SmartAssist's
// credential (while "auth" is), and the access log names the caller but
// never a token.
func TestCallerAuthentication(t *testing.T) {
	t.Parallel()
	keys := newCallerKeys(t)
	caller := keys.token(t)
	const upstreamJWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzbWFydGFzc2lzdCJ9.c2lnbmF0dXJlLW9mLWEtc21hcnRhc3Npc3Qtand0"
	v, err := callerauth.New(t.Context(), callerauth.Config{JWKSFile: keys.jwksFile, Issuer: callerIssuer, Audience: callerAudience})
	if err != nil {
		t.Fatalf("callerauth.New: %v", err)
	}
	t.Cleanup(v.Close)

	tests := []struct {
		name     string
		headers  []string
		wantCode connect.Code // 0: the sample
		wantAuth string       // the "auth" header SmartAssist sees
	}{
		{name: "no token", wantCode: connect.CodeUnauthenticated},
		{name: "invalid token", headers: []string{"Authorization", "Bearer " + caller + "x"}, wantCode: connect.CodeUnauthenticated},
		{name: "smartassist token without caller token", headers: []string{"auth", upstreamJWT}, wantCode: connect.CodeUnauthenticated},
		{name: "caller token lends the bridge's credentials", headers: []string{"Authorization", "Bearer " + caller}, wantAuth: "static-test-token"},
		{name: "caller token with a smartassist token", headers: []string{"Authorization", "Bearer " + caller, "auth", upstreamJWT}, wantAuth: upstreamJWT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log syncBuffer
			fake := newFake(t)
			b := stewardBridge(t, fake, stewardConfig{
				service: func(o *service.Options) { o.CallerAuth = true },
				options: func(bc *bridgeConfig) {
					bc.options.CallerAuth = v.Interceptor(bridge.PublicProcedure)
					bc.options.CallerSubject = func(ctx context.Context) string {
						c, _ := callerauth.CallerFromContext(ctx)
						return c.Subject
					}
					bc.options.Logger = slog.New(slog.NewTextHandler(&log, nil))
				},
			})

			// Health needs no token.
			health := grpc_health_v1.NewHealthClient(newGRPCConn(t, b.Addr))
			if res, err := health.Check(t.Context(), &grpc_health_v1.HealthCheckRequest{}); err != nil || res.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
				t.Errorf("health Check without a token: %v, %v", res.GetStatus(), err)
			}

			// The generated client, for the code.
			res, err := newClient(t, b.URL, false).GetConversation(withHeaders(t.Context(), tt.headers...), sampleRequest())
			if tt.wantCode != 0 {
				checkCode(t, err, tt.wantCode)
				// Raw HTTP, for the challenge header.
				resp, _ := connectGet(t, newHTTPClient(t, false), b.URL, tt.headers...)
				if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate %q, want a Bearer challenge", got)
				}
				checkHits(t, fake, 0)
			} else {
				checkSample(t, res, err)
				reqs := fake.Requests()
				if len(reqs) != 1 {
					t.Fatalf("SmartAssist saw %d requests, want 1", len(reqs))
				}
				// Named, never printed: test output carries no token.
				name := func(tok string) string {
					switch tok {
					case caller:
						return "the caller's token"
					case upstreamJWT:
						return "the caller's SmartAssist token"
					case "static-test-token":
						return "the bridge's token"
					}
					return strconv.Itoa(len(tok)) + " other bytes"
				}
				if got := reqs[0].Header.Get("auth"); got != tt.wantAuth {
					t.Errorf("SmartAssist got as auth %s, want %s", name(got), name(tt.wantAuth))
				}
				if got := reqs[0].Header.Get("Authorization"); got != "" {
					t.Errorf("SmartAssist got an Authorization header")
				}
				rpctest.Eventually(t, "the access line names the caller", func() bool {
					return strings.Contains(log.String(), "caller="+callerSubject)
				})
			}
			for _, secret := range []string{caller, upstreamJWT, "static-test-token"} {
				if strings.Contains(log.String(), secret) {
					t.Errorf("the log carries a token")
				}
			}
		})
	}
}
