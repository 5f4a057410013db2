package smartassist_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	sat "github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

// clock is a settable time source for ClientCredentials.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// parseClaims verifies tok with the test secret and returns its claims.
func parseClaims(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims,
		func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatalf("parse minted token: %v", err)
	}
	return claims
}

func TestClientCredentialsVerifiedByServer(t *testing.T) {
	t.Parallel()
	for _, jti := range []bool{false, true} {
		name := map[bool]string{false: "cached", true: "jti"}[jti]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t,
				sat.WithSecret(clientID, secret),
				sat.WithConversation(streamID, conversationID, conversationBody))
			var mints atomic.Int32
			creds := &smartassist.ClientCredentials{
				ClientID: clientID, Secret: secret, JTI: jti,
				OnMint: func() { mints.Add(1) },
			}
			c := newClient(t, srv, func(cfg *smartassist.Config) { cfg.Tokens = creds })
			req := request()
			req.Auth = ""

			for range 2 {
				got, err := c.GetConversation(t.Context(), req)
				if err != nil || !bytes.Equal(got, conversationBody) {
					t.Fatalf("GetConversation = %s, %v; want the conversation", got, err)
				}
			}

			reqs := srv.Requests()
			sameToken := reqs[0].Header.Get("auth") == reqs[1].Header.Get("auth")
			// Without jti the token is reused across calls; with jti every
			// call gets its own.
			wantMints := map[bool]int32{false: 1, true: 2}[jti]
			if sameToken == jti || mints.Load() != wantMints {
				t.Errorf("same token on both calls = %v, mints = %d; want %v, %d", sameToken, mints.Load(), !jti, wantMints)
			}
		})
	}
}

func TestClientCredentialsJTIFreshTokenPerRetry(t *testing.T) {
	t.Parallel()
	srv := sat.NewServer(t,
		sat.WithSecret(clientID, secret),
		sat.WithConversation(streamID, conversationID, conversationBody))
	srv.Script(conversationID, sat.Response{Status: 503})
	creds := &smartassist.ClientCredentials{ClientID: clientID, Secret: secret, JTI: true}
	c := newClient(t, srv, func(cfg *smartassist.Config) { cfg.Tokens = creds })
	req := request()
	req.Auth = ""

	if _, err := c.GetConversation(t.Context(), req); err != nil {
		t.Fatalf("GetConversation: %v", err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("server got %d requests, want 2", len(reqs))
	}
	jti0 := parseClaims(t, reqs[0].Header.Get("auth"))["jti"]
	jti1 := parseClaims(t, reqs[1].Header.Get("auth"))["jti"]
	if jti0 == jti1 {
		t.Errorf("retry reused jti %v; a SmartAssist app enforcing jti would reject it", jti0)
	}
}

func TestClientCredentialsClaims(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name    string
		ttl     time.Duration
		jti     bool
		wantTTL int64
	}{
		{name: "defaults", wantTTL: 3600},
		{name: "custom TTL", ttl: 5 * time.Minute, wantTTL: 300},
		{name: "jti", jti: true, wantTTL: 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			creds := &smartassist.ClientCredentials{
				ClientID: clientID, Secret: secret, TTL: tt.ttl, JTI: tt.jti,
				Now: func() time.Time { return now },
			}
			tok, err := creds.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			// ParseWithClaims validates exp against the real clock, which is
			// before the fixed 2027 "now": the token is valid.
			claims := parseClaims(t, tok)
			if claims["appId"] != clientID || claims["sub"] != clientID {
				t.Errorf("appId, sub = %v, %v; want %q", claims["appId"], claims["sub"], clientID)
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			// iat is backdated for clock skew; exp still counts from now.
			wantIat := now.Add(-smartassist.IssuedAtLeeway).Unix()
			if int64(iat) != wantIat || int64(exp) != now.Unix()+tt.wantTTL {
				t.Errorf("iat, exp = %d, %d; want %d, %d", int64(iat), int64(exp), wantIat, now.Unix()+tt.wantTTL)
			}
			jti, hasJTI := claims["jti"].(string)
			if hasJTI != tt.jti {
				t.Fatalf("jti claim = %v, want present = %v", claims["jti"], tt.jti)
			}
			if hasJTI {
				if b, err := hex.DecodeString(jti); err != nil || len(b) != 16 {
					t.Errorf("jti = %q, want 128 bits in hex", jti)
				}
				tok2, _ := creds.Token(t.Context())
				if parseClaims(t, tok2)["jti"] == jti {
					t.Errorf("two tokens share jti %q", jti)
				}
			}
		})
	}
}

func TestClientCredentialsReuseAndExpiry(t *testing.T) {
	t.Parallel()
	type step struct {
		advance   time.Duration // before calling Token
		wantFresh bool          // a new token is minted
	}
	tests := []struct {
		name  string
		ttl   time.Duration
		skew  time.Duration
		steps []step
	}{
		{
			name: "defaults: reused until a minute before expiry",
			steps: []step{
				{0, true},
				{30 * time.Minute, false},
				{28*time.Minute + 59*time.Second, false}, // 1s before the skew window
				{time.Second, true},                      // exactly at exp - skew
				{time.Second, false},                     // the new token is reused
				{2 * time.Hour, true},                    // long expired
			},
		},
		{
			name: "skew not shorter than TTL is halved",
			ttl:  10 * time.Second, skew: time.Minute,
			steps: []step{{0, true}, {4 * time.Second, false}, {time.Second, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: time.Unix(time.Now().Unix(), 0)}
			var mints int
			creds := &smartassist.ClientCredentials{
				ClientID: clientID, Secret: secret, TTL: tt.ttl, Skew: tt.skew,
				Now: clk.Now, OnMint: func() { mints++ },
			}
			var prev string
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				before := mints
				tok, err := creds.Token(t.Context())
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				fresh := mints > before
				if fresh != s.wantFresh {
					t.Errorf("step %d (+%s): minted = %v, want %v", i, s.advance, fresh, s.wantFresh)
				}
				if !fresh && tok != prev {
					t.Errorf("step %d: token changed without a mint", i)
				}
				prev = tok
			}
		})
	}
}

func TestClientCredentialsConcurrentCallersMintOnce(t *testing.T) {
	t.Parallel()
	var mints atomic.Int32
	creds := &smartassist.ClientCredentials{
		ClientID: clientID, Secret: secret,
		OnMint: func() { mints.Add(1) },
	}
	const callers = 50
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		tokens [callers]string
		errs   [callers]error
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			tokens[i], errs[i] = creds.Token(context.Background())
		})
	}
	close(start)
	wg.Wait()

	if n := mints.Load(); n != 1 {
		t.Errorf("%d concurrent callers minted %d tokens, want 1", callers, n)
	}
	for i := range callers {
		if errs[i] != nil || tokens[i] != tokens[0] {
			t.Errorf("caller %d got %.12q…, %v; want the shared token", i, tokens[i], errs[i])
		}
	}
}

func TestClientCredentialsErrors(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		creds *smartassist.ClientCredentials
		ctx   context.Context
		want  string
	}{
		{name: "empty client id", creds: &smartassist.ClientCredentials{Secret: secret}, ctx: context.Background(), want: "empty client id"},
		{name: "empty secret", creds: &smartassist.ClientCredentials{ClientID: clientID}, ctx: context.Background(), want: "empty secret"},
		{name: "canceled", creds: &smartassist.ClientCredentials{ClientID: clientID, Secret: secret}, ctx: canceled, want: "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := tt.creds.Token(tt.ctx)
			if err == nil || tok != "" || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Token = %q, %v; want an error containing %q", tok, err, tt.want)
			}
			if strings.Contains(err.Error(), string(secret)) {
				t.Errorf("error %q leaks the secret", err)
			}
		})
	}
}
