package smartassist

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenSource supplies the JWT sent in the "auth" header when a request
// carries no pass-through token. The Client calls Token once per HTTP
// attempt, so a source may hand out a fresh token for every retry. A source
// that caches tokens should also implement Invalidator.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Invalidator is implemented by a TokenSource that caches tokens. After
// SmartAssist answers 401 to a token from the source, the Client calls
// Invalidate with that token and asks for a new one, once per call.
// Invalidate must drop the token only if it is still the cached one, so that
// a late 401 cannot discard a token another call has just minted.
type Invalidator interface {
	Invalidate(token string)
}

// Defaults for ClientCredentials.
const (
	defaultTokenTTL  = time.Hour
	defaultTokenSkew = time.Minute
)

// IssuedAtLeeway is how far in the past ClientCredentials puts a token's
// iat. A verifier whose clock is behind ours would otherwise reject a token
// "issued in the future" (golang-jwt's WithIssuedAt does, without leeway);
// 10 seconds covers NTP-synchronised hosts with room to spare while keeping
// the token's lifetime, exp − iat, within 10s of TTL.
const IssuedAtLeeway = 10 * time.Second

// ClientCredentials mints SmartAssist JWTs from an app's client id and
// secret: HS256 signed with Secret, with claims appId and sub set to
// ClientID, iat = now − IssuedAtLeeway, and exp = now + TTL (times in whole
// seconds).
//
// Without JTI a token is cached and reused until Skew before its expiry;
// concurrent callers that find no valid token wait for a single mint. With
// JTI every call mints a new token carrying a random 128-bit hex "jti",
// because SmartAssist apps that enforce jti reject a jti they have already
// seen: with JTI the token is minted per call instead of reused.
//
// A ClientCredentials is safe for concurrent use and must not be copied
// after first use.
type ClientCredentials struct {
	ClientID string
	Secret   []byte
	// TTL is the token lifetime; 0 means 1h.
	TTL time.Duration
	// Skew is how long before expiry a cached token stops being handed out,
	// which absorbs clock drift and the time a request spends in flight;
	// 0 means 1m. A Skew not shorter than TTL is treated as TTL/2, otherwise
	// no token would ever be reused.
	Skew time.Duration
	// JTI adds a random "jti" claim and disables caching.
	JTI bool
	// Now returns the current time; nil means time.Now. Tests inject a clock.
	Now func() time.Time
	// OnMint, if set, is called after each successful mint (e.g. to count
	// mints in a metric).
	OnMint func()

	mu     sync.Mutex
	cached string
	expiry time.Time
}

var (
	_ TokenSource = (*ClientCredentials)(nil)
	_ Invalidator = (*ClientCredentials)(nil)
)

// Token returns a valid JWT, minting one when needed. Its errors never
// contain the secret.
func (c *ClientCredentials) Token(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if c.ClientID == "" {
		return "", errors.New("smartassist: client credentials: empty client id")
	}
	if len(c.Secret) == 0 {
		return "", fmt.Errorf("smartassist: client credentials for %q: empty secret", c.ClientID)
	}
	if c.JTI {
		tok, _, err := c.mint()
		if err == nil && c.OnMint != nil {
			c.OnMint()
		}
		return tok, err
	}

	c.mu.Lock()
	now := c.now()
	// Holding the lock across the mint is what makes concurrent callers share
	// one token; HMAC signing takes microseconds, so the contention is
	// negligible.
	if c.cached != "" && now.Before(c.expiry.Add(-c.skew())) {
		tok := c.cached
		c.mu.Unlock()
		return tok, nil
	}
	tok, exp, err := c.mint()
	if err == nil {
		c.cached, c.expiry = tok, exp
	}
	c.mu.Unlock()
	// OnMint runs outside the lock so a slow hook cannot stall other callers.
	if err == nil && c.OnMint != nil {
		c.OnMint()
	}
	return tok, err
}

// Invalidate drops tok from the cache if it is the cached token, so that the
// next Token call mints a new one. Tokens minted with JTI are never cached,
// so for them it does nothing.
func (c *ClientCredentials) Invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tok != "" && tok == c.cached {
		c.cached, c.expiry = "", time.Time{}
	}
}

// mint signs a new token and returns it with its expiry.
func (c *ClientCredentials) mint() (string, time.Time, error) {
	now := time.Unix(c.now().Unix(), 0) // JWT times have second precision.
	iat := now.Add(-IssuedAtLeeway)
	exp := now.Add(c.ttl())
	claims := jwt.MapClaims{
		"appId": c.ClientID,
		"sub":   c.ClientID,
		"iat":   iat.Unix(),
		"exp":   exp.Unix(),
	}
	if c.JTI {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24.
		claims["jti"] = hex.EncodeToString(b[:])
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(c.Secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("smartassist: sign token for client %q: %w", c.ClientID, err)
	}
	return tok, exp, nil
}

func (c *ClientCredentials) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *ClientCredentials) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return defaultTokenTTL
}

func (c *ClientCredentials) skew() time.Duration {
	skew := c.Skew
	if skew <= 0 {
		skew = defaultTokenSkew
	}
	if ttl := c.ttl(); skew >= ttl {
		skew = ttl / 2
	}
	return skew
}

// StaticToken is a TokenSource that hands out one fixed token: the demo
// upstream's credential (it only checks that one is present), and tests'.
type StaticToken string

// Token returns the token.
func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }
