package service

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"connectrpc.com/connect/v2"
	"github.com/golang-jwt/jwt/v5"
)

// upstreamAuth is how one call authenticates to SmartAssist, and so which
// cache partition its answers may live in: two different credentials never
// share a cached conversation or a coalesced fetch.
type upstreamAuth struct {
	// token is the caller's own SmartAssist JWT (pass-through), or empty
	// when the bridge's credentials are used.
	token string
	// identity names the credential without revealing it: "bridge" for the
	// bridge's own, "token:<sha256 prefix>" for a pass-through token.
	identity string
	// cacheTTL caps how long an answer fetched with this credential may be
	// served from the cache: 0 is no cap, negative is "never cache".
	cacheTTL time.Duration
}

// lent reports whether the call uses the bridge's own credentials.
func (a upstreamAuth) lent() bool { return a.token == "" }

// authFor reads the call's SmartAssist credential. When callers
// authenticate to the bridge with their own JWT (callerAuth), the
// Authorization header is that identity and only the "auth" header can
// carry a SmartAssist token.
func authFor(h *connect.Header, callerAuth bool, now time.Time) upstreamAuth {
	tok := strings.TrimSpace(h.Get("Auth"))
	if tok == "" && !callerAuth {
		tok = bearerToken(h.Get("Authorization"))
	}
	if tok == "" {
		return upstreamAuth{identity: "bridge"}
	}
	sum := sha256.Sum256([]byte(tok))
	return upstreamAuth{token: tok, identity: "token:" + hex.EncodeToString(sum[:16]), cacheTTL: passThroughCacheTTL(tok, now)}
}

// bearerToken returns the token of an "Authorization: Bearer" value.
func bearerToken(v string) string {
	v = strings.TrimSpace(v)
	const prefix = "bearer "
	if len(v) > len(prefix) && strings.EqualFold(v[:len(prefix)], prefix) {
		return strings.TrimSpace(v[len(prefix):])
	}
	return ""
}

// passThroughCacheTTL bounds how long an answer fetched with a caller's
// own token may be served again to that token: never past the token's
// expiry, so that an expired token gets SmartAssist's own refusal rather
// than a cached answer. The token is not verified here (SmartAssist does
// that on the fetch); a token whose expiry cannot be read is never served
// from the cache. A forged token has its own hash, so it can only ever see
// answers SmartAssist gave to that very token, and SmartAssist refuses it.
func passThroughCacheTTL(tok string, now time.Time) time.Duration {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil || claims.ExpiresAt == nil {
		return -1
	}
	ttl := claims.ExpiresAt.Sub(now)
	if ttl <= 0 {
		return -1
	}
	return ttl
}

// accountPolicy decides which account_id a call may name.
type accountPolicy struct {
	defaultAccount string
	// allowed lists the accounts the bridge's own credentials may be used
	// for; nil allows any (demo mode, and pass-through-only bridges,
	// where SmartAssist judges the caller's own token).
	allowed map[string]bool
	// everyone applies the list to pass-through callers too (set when the
	// operator listed accounts explicitly).
	everyone bool
}

// account returns the account a call reads, or false when it may not.
func (p accountPolicy) account(requested string, auth upstreamAuth) (string, bool) {
	account := requested
	if account == "" {
		account = p.defaultAccount
	}
	if p.allowed == nil || (!auth.lent() && !p.everyone) {
		return account, true
	}
	return account, p.allowed[account]
}
