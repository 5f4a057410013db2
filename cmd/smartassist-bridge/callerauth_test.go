package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

// TestRunCallerAuth runs the command lending client credentials to callers
// authenticated by --caller-jwks-file: a call without a token, or with one
// for another audience, is refused before SmartAssist sees it; a call with
// a valid token is served.
func TestRunCallerAuth(t *testing.T) {
	t.Parallel()
	const (
		secret   = "s3cr3t-caller-auth-9a1f"
		issuer   = "https://issuer.run.test"
		audience = "bridge-run"
	)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "run-ed"}})
	if err != nil {
		t.Fatal(err)
	}
	store := jwkset.NewMemoryStorage()
	if err := store.KeyWrite(t.Context(), jwk); err != nil {
		t.Fatal(err)
	}
	jwks, err := store.JSONPublic(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sign := func(aud string) string {
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"sub": "run-caller", "iss": issuer, "aud": aud,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = "run-ed"
		s, err := tok.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	fake := smartassisttest.NewServer(t,
		smartassisttest.WithSecret("cs-run", []byte(secret)),
		smartassisttest.WithConversation(demo.StreamID, demo.ConversationID, demo.Conversation),
	)
	r := start(t, []string{
		"--listen", "127.0.0.1:0", "--admin-listen", "",
		"--upstream", fake.URL, "--client-id", "cs-run",
		"--client-secret-file", writeFile(t, "secret", secret+"\n"),
		"--caller-jwks-file", writeFile(t, "jwks.json", string(jwks)),
		"--caller-issuer", issuer, "--caller-audience", audience,
	}, nil)
	hc := newHTTPClient(t)
	client := smartassistv1connect.NewConversationServiceClient(connect.NewClient(
		connecthttp.NewTransport(hc, "http://"+r.rpcAddr)))

	valid := sign(audience)
	tests := []struct {
		name          string
		authorization string
		wantCode      connect.Code // 0: the sample
		wantHits      int          // SmartAssist's requests so far
	}{
		{name: "no token", wantCode: connect.CodeUnauthenticated},
		{name: "token for another audience", authorization: "Bearer " + sign("someone-else"), wantCode: connect.CodeUnauthenticated},
		{name: "valid token", authorization: "Bearer " + valid, wantHits: 1},
	}
	for _, tt := range tests { // in order: the hits add up
		ctx := t.Context()
		if tt.authorization != "" {
			c, info := connect.NewClientContext(ctx)
			ctx = c
			info.RequestHeader().Set("Authorization", tt.authorization)
		}
		res, err := client.GetConversation(ctx, sampleRequest())
		if tt.wantCode == 0 {
			checkSample(t, res, err)
		} else if connect.CodeOf(err) != tt.wantCode {
			t.Errorf("%s: got %v (%v), want %v", tt.name, connect.CodeOf(err), err, tt.wantCode)
		}
		if got := fake.Hits(); got != tt.wantHits {
			t.Errorf("%s: SmartAssist saw %d requests, want %d", tt.name, got, tt.wantHits)
		}
	}

	hc.CloseIdleConnections()
	if err := r.stop(); err != nil {
		t.Errorf("run: %v", err)
	}
	if log := r.stderr.String(); strings.Contains(log, valid) || strings.Contains(log, secret) {
		t.Errorf("the log carries the caller's token or the secret")
	}
}
