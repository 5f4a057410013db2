// Package callerauth authenticates the callers of the bridge, so that no one
// reads conversations with the bridge's SmartAssist credentials without a
// token signed by a key the operator trusts.
//
// Callers send "Authorization: Bearer <JWT>". A [Verifier] checks the token
// against the public keys of a JWK Set file (--caller-jwks-file) and, when
// configured, its issuer and audience; [Verifier.Interceptor] does so for
// every RPC before the handler runs.
//
// Which library does what, and why:
//   - github.com/MicahParks/jwkset decodes the JWK Set file: RSA, EC
//     (P-256, P-384, P-521) and OKP Ed25519 public keys, with the checks of
//     RFC 7517/7518 on their parameters. It is asked for public material
//     only, so a symmetric "oct" key in the file is never turned into an
//     HMAC secret.
//   - This package decides which algorithms each key may verify: RSA keys
//     RS256/384/512 and PS256/384/512, EC keys the one ES algorithm of their
//     curve, Ed25519 keys EdDSA, narrowed to the JWK's "alg" when it states
//     one. github.com/MicahParks/keyfunc/v3 is not used: its Keyfunc checks
//     the JWK's "alg" but does not tie algorithms to key types, falls back to
//     every key when a token has no "kid", and loads the set with private
//     (including symmetric) keys; what we need is a small key-function over
//     our own key map, which this package provides.
//   - github.com/golang-jwt/jwt/v5 parses the token, verifies the signature
//     with the key our key-function returns (its signing methods also refuse
//     a key of the wrong Go type, a second guard against HS256 with a public
//     key) and validates exp (required), nbf and iat with a leeway, iss and
//     aud. Strict base64 decoding is on, so each token has one spelling.
//
// The key file is polled (every [DefaultReloadInterval] unless configured):
// its content is read through the path each time and compared by SHA-256,
// so a Kubernetes Secret volume, which swaps a "..data" symlink to a new
// directory, is followed without watching inodes. A file that fails to load
// keeps the previous keys and logs a warning (never key material).
package callerauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults for the zero values of [Config].
const (
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultReloadInterval is how often the key file is checked for change.
	DefaultReloadInterval = 2 * time.Second
)

// MaxTokenBytes is the largest token accepted; larger ones are refused
// before any decoding. Real access tokens are well under 2 KiB.
const MaxTokenBytes = 8 << 10

// Config configures a [Verifier].
type Config struct {
	// JWKSFile is the path of a JWK Set (JSON) holding the public keys
	// caller tokens may be signed with. Required.
	JWKSFile string
	// Issuer, when set, is the only "iss" accepted.
	Issuer string
	// Audience, when set, must be one of the token's "aud" values.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat. Zero means
	// DefaultLeeway; a negative value means none.
	Leeway time.Duration
	// ReloadInterval is how often JWKSFile is checked for change. Zero or
	// less means DefaultReloadInterval.
	ReloadInterval time.Duration
	// Logger receives reload outcomes. Nil discards them.
	Logger *slog.Logger
	// OnReload, if set, is called from the reload goroutine after each
	// attempt to load a changed key file, with whether the new keys are in
	// use (for a metric).
	OnReload func(ok bool)
}

// Caller is an authenticated caller, from its verified token.
type Caller struct {
	// Subject is the token's "sub" (may be empty if the issuer omits it).
	Subject string
	// Issuer is the token's "iss".
	Issuer string
	// Audience is the token's "aud".
	Audience []string
	// KeyID is the "kid" of the key that signed the token.
	KeyID string
	// ExpiresAt is the token's "exp".
	ExpiresAt time.Time
}

// Verifier checks caller tokens against the keys of a JWK Set file, which
// it reloads in the background when the file changes. It is safe for
// concurrent use.
type Verifier struct {
	cfg    Config
	log    *slog.Logger
	parser *jwt.Parser
	keys   atomic.Pointer[keySet]

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// New loads cfg.JWKSFile, failing if it cannot be read or holds no usable
// key, and then reloads it in the background until ctx ends or Close is
// called.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.JWKSFile == "" {
		return nil, errors.New("callerauth: no JWKS file configured")
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	}
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	v := &Verifier{cfg: cfg, log: cfg.Logger, done: make(chan struct{})}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.log = v.log.With(slog.String("jwks_file", cfg.JWKSFile))
	opts := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)

	data, sum, err := readKeyFile(cfg.JWKSFile)
	if err != nil {
		return nil, fmt.Errorf("callerauth: %w", err)
	}
	set, skipped, err := parseJWKS(data)
	v.logSkipped(skipped)
	if err != nil {
		return nil, fmt.Errorf("callerauth: load %s: %w", cfg.JWKSFile, err)
	}
	v.keys.Store(set)
	v.log.Info("caller keys loaded", slog.Any("kids", set.kids()))

	ctx, v.cancel = context.WithCancel(ctx)
	go v.watch(ctx, sum)
	return v, nil
}

// Close stops the background reload and waits for it to end.
func (v *Verifier) Close() {
	v.once.Do(v.cancel)
	<-v.done
}

// readKeyFile reads the file through its path (following symlinks anew
// each time) and returns its content and SHA-256.
func readKeyFile(path string) ([]byte, [sha256.Size]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJWKSBytes+1))
	if err != nil {
		return nil, [sha256.Size]byte{}, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxJWKSBytes {
		return nil, [sha256.Size]byte{}, fmt.Errorf("%s is larger than %d bytes", path, maxJWKSBytes)
	}
	return data, sha256.Sum256(data), nil
}

// watch polls the key file and loads it when its content changes. The
// hash of a content that failed to load is kept too, so a broken file is
// reported once, not at every tick.
func (v *Verifier) watch(ctx context.Context, last [sha256.Size]byte) {
	defer close(v.done)
	ticker := time.NewTicker(v.cfg.ReloadInterval)
	defer ticker.Stop()
	var lastReadErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		data, sum, err := readKeyFile(v.cfg.JWKSFile)
		if err != nil {
			// A Secret swap never leaves the path missing, but an operator's
			// editor or a deleted mount can: keep the keys, say so once.
			if msg := err.Error(); msg != lastReadErr {
				lastReadErr = msg
				v.log.Warn("cannot read caller keys; keeping the previous ones", slog.String("error", msg))
			}
			continue
		}
		lastReadErr = ""
		if sum == last {
			continue
		}
		last = sum
		set, skipped, err := parseJWKS(data)
		v.logSkipped(skipped)
		if err != nil {
			v.log.Warn("changed caller keys do not load; keeping the previous ones", slog.String("error", err.Error()))
			v.notify(false)
			continue
		}
		v.keys.Store(set)
		v.log.Info("caller keys reloaded", slog.Any("kids", set.kids()))
		v.notify(true)
	}
}

func (v *Verifier) notify(ok bool) {
	if v.cfg.OnReload != nil {
		v.cfg.OnReload(ok)
	}
}

func (v *Verifier) logSkipped(skipped []skippedKey) {
	for _, s := range skipped {
		msg := "caller key skipped"
		if s.used {
			msg = "caller key used, with a problem"
		}
		v.log.Warn(msg, slog.String("kid", s.kid), slog.String("reason", s.reason))
	}
}

func (s *keySet) kids() []string {
	return slices.Sorted(maps.Keys(s.keys))
}

// Why a caller is refused. Each error's text is safe to show the caller:
// it never contains the token or any part of it.
var (
	ErrNoToken         = errors.New("no caller token: send Authorization: Bearer <token>")
	ErrMalformedHeader = errors.New("malformed Authorization header: want one Bearer <token>")
	ErrTokenTooLarge   = fmt.Errorf("caller token larger than %d bytes", MaxTokenBytes)
	ErrMalformed       = errors.New("caller token is malformed")
	ErrUnknownKey      = errors.New("caller token does not name a known key (kid)")
	ErrAlgorithm       = errors.New("caller token algorithm is not allowed for its key")
	ErrSignature       = errors.New("caller token signed by an unknown key")
	ErrExpired         = errors.New("caller token expired")
	ErrNotYetValid     = errors.New("caller token is not valid yet")
	ErrNoExpiry        = errors.New("caller token has no expiry (exp)")
	ErrIssuer          = errors.New("caller token has the wrong issuer")
	ErrAudience        = errors.New("caller token has the wrong audience")
)

// refusal is a Verify error: its text is the reason only, while errors.Is
// and errors.As also reach the underlying jwt error for our own logs.
type refusal struct {
	reason error
	cause  error
}

func (r *refusal) Error() string   { return r.reason.Error() }
func (r *refusal) Unwrap() []error { return []error{r.reason, r.cause} }

// Verify checks the value of an Authorization header and returns the
// caller it authenticates. Its errors wrap one of the Err* values above.
func (v *Verifier) Verify(authorization string) (Caller, error) {
	token, err := bearerToken(authorization)
	if err != nil {
		return Caller{}, err
	}
	set := v.keys.Load()
	var (
		claims jwt.RegisteredClaims
		kid    string
	)
	_, err = v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			// RFC 7515 section 4.1.11: a recipient must refuse critical
			// extensions it does not understand, and we understand none.
			return nil, ErrMalformed
		}
		kid, _ = t.Header["kid"].(string)
		return set.keyFor(kid, t.Method.Alg())
	})
	if err != nil {
		return Caller{}, &refusal{reason: v.reason(err, &claims), cause: err}
	}
	c := Caller{Subject: claims.Subject, Issuer: claims.Issuer, Audience: claims.Audience, KeyID: kid}
	if claims.ExpiresAt != nil {
		c.ExpiresAt = claims.ExpiresAt.Time
	}
	return c, nil
}

// keyFor is the jwt.Keyfunc: the key named by kid, if it may verify alg.
func (s *keySet) keyFor(kid, alg string) (any, error) {
	vk, ok := s.keys[kid]
	if !ok || kid == "" {
		return nil, ErrUnknownKey
	}
	for _, a := range vk.algs {
		if a == alg {
			return vk.key, nil
		}
	}
	return nil, ErrAlgorithm
}

// reason picks the caller-facing reason for a jwt error. The signature is
// checked before the claims, so a claim error means a genuine token.
func (v *Verifier) reason(err error, claims *jwt.RegisteredClaims) error {
	switch {
	case errors.Is(err, ErrMalformed):
		return ErrMalformed
	case errors.Is(err, ErrUnknownKey):
		return ErrUnknownKey
	case errors.Is(err, ErrAlgorithm):
		return ErrAlgorithm
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ErrIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ErrAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		switch {
		case claims.ExpiresAt == nil:
			return ErrNoExpiry
		case v.cfg.Issuer != "" && claims.Issuer == "":
			return ErrIssuer
		default:
			return ErrAudience
		}
	}
	// An unknown "alg" (jwt.ErrTokenUnverifiable) and anything else.
	return ErrMalformed
}

// bearerToken extracts the token of an RFC 6750 "Bearer" credential. The
// scheme is case-insensitive (RFC 9110 section 11.1); we accept exactly one
// space after it and only the characters a JWS compact serialization uses,
// so there is one way to spell each credential.
func bearerToken(authorization string) (string, error) {
	if authorization == "" {
		return "", ErrNoToken
	}
	scheme, token, found := strings.Cut(authorization, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoToken
	}
	if !found || token == "" {
		return "", ErrMalformedHeader
	}
	if len(token) > MaxTokenBytes {
		return "", ErrTokenTooLarge
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return "", ErrMalformedHeader
		}
	}
	if dots != 2 {
		return "", ErrMalformed
	}
	return token, nil
}
