package service

import (
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"github.com/golang-jwt/jwt/v5"
)

func TestAuthFor(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	token := func(exp time.Time) string {
		claims := jwt.MapClaims{"sub": "x"}
		if !exp.IsZero() {
			claims["exp"] = exp.Unix()
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("k"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	live, expired, noExp := token(now.Add(time.Hour)), token(now.Add(-time.Minute)), token(time.Time{})
	tests := []struct {
		name       string
		headers    map[string]string
		callerAuth bool
		wantToken  string
		wantTTL    time.Duration // 0: no cap; <0: never cache
	}{
		{name: "no token uses the bridge's", headers: nil, wantToken: ""},
		{name: "auth header", headers: map[string]string{"Auth": live}, wantToken: live, wantTTL: time.Hour},
		{name: "bearer", headers: map[string]string{"Authorization": "Bearer " + live}, wantToken: live, wantTTL: time.Hour},
		{name: "auth wins over bearer", headers: map[string]string{"Auth": live, "Authorization": "Bearer other"}, wantToken: live, wantTTL: time.Hour},
		{name: "with caller auth, bearer is the caller's", headers: map[string]string{"Authorization": "Bearer " + live}, callerAuth: true, wantToken: ""},
		{name: "with caller auth, auth still passes", headers: map[string]string{"Auth": live, "Authorization": "Bearer caller"}, callerAuth: true, wantToken: live, wantTTL: time.Hour},
		{name: "expired token is never cached", headers: map[string]string{"Auth": expired}, wantToken: expired, wantTTL: -1},
		{name: "token without exp is never cached", headers: map[string]string{"Auth": noExp}, wantToken: noExp, wantTTL: -1},
		{name: "opaque token is never cached", headers: map[string]string{"Auth": "opaque"}, wantToken: "opaque", wantTTL: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := new(connect.Header)
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			got := authFor(h, tt.callerAuth, now)
			if got.token != tt.wantToken {
				t.Errorf("token = %q, want %q", got.token, tt.wantToken)
			}
			if (tt.wantTTL < 0) != (got.cacheTTL < 0) || (tt.wantTTL > 0 && got.cacheTTL != tt.wantTTL) {
				t.Errorf("cacheTTL = %s, want %s", got.cacheTTL, tt.wantTTL)
			}
			if got.token != "" && strings.Contains(got.identity, got.token) {
				t.Error("the cache identity must not contain the token")
			}
		})
	}
	a, b := authFor(headerWith("Auth", live), false, now), authFor(headerWith("Auth", noExp), false, now)
	if a.identity == b.identity {
		t.Error("two different tokens share a cache identity")
	}
}

func headerWith(k, v string) *connect.Header {
	h := new(connect.Header)
	h.Set(k, v)
	return h
}

func TestAccountPolicy(t *testing.T) {
	t.Parallel()
	lent, passThrough := upstreamAuth{identity: "bridge"}, upstreamAuth{token: "t", identity: "token:x"}
	allowed := map[string]bool{"acc-1": true, "acc-2": true}
	tests := []struct {
		name      string
		policy    accountPolicy
		requested string
		auth      upstreamAuth
		want      string
		wantOK    bool
	}{
		{"default account", accountPolicy{defaultAccount: "acc-1", allowed: allowed}, "", lent, "acc-1", true},
		{"listed account", accountPolicy{defaultAccount: "acc-1", allowed: allowed}, "acc-2", lent, "acc-2", true},
		{"unlisted account with lent credentials", accountPolicy{defaultAccount: "acc-1", allowed: allowed}, "acc-9", lent, "acc-9", false},
		{"unlisted account with the caller's own token", accountPolicy{defaultAccount: "acc-1", allowed: allowed}, "acc-9", passThrough, "acc-9", true},
		{"explicit list holds pass-through too", accountPolicy{defaultAccount: "acc-1", allowed: allowed, everyone: true}, "acc-9", passThrough, "acc-9", false},
		{"no list (demo)", accountPolicy{}, "anything", lent, "anything", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := tt.policy.account(tt.requested, tt.auth)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("account(%q) = %q, %v; want %q, %v", tt.requested, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
