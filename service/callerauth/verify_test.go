package callerauth_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/smartassist-bridge/smartassist-bridge/service/callerauth"
)

// hmacWith signs claims with HS256 using secret as the HMAC key: the
// classic confusion attack, where the "secret" is the server's public key.
func hmacWith(t *testing.T, kid string, secret []byte) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	tok.Header["kid"] = kid
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	t.Parallel()
	k := keys()
	v := standardVerifier(t)

	der, err := x509.MarshalPKIXPublicKey(k.rsa.public())
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	edDER, err := x509.MarshalPKIXPublicKey(k.ed.public())
	if err != nil {
		t.Fatal(err)
	}

	none := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil))
		tok.Header["kid"] = kid
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := sign(t, k.rsa, claims(nil))
	parts := strings.Split(valid, ".")
	// The same signature over other claims.
	forged := parts[0] + "." + sign(t, k.rsa, claims(func(c jwt.MapClaims) { c["sub"] = "admin" }))[len(parts[0])+1:]
	forged = forged[:strings.LastIndex(forged, ".")] + "." + parts[2]
	// The same signature spelled with different unused low bits in its
	// last base64url character: it decodes to the same bytes unless
	// decoding is strict.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, valid[len(valid)-1])
	respelled := valid[:len(valid)-1] + string(alphabet[last^1])
	crit := func() string {
		tok := jwt.NewWithClaims(k.ec.method, claims(nil))
		tok.Header["kid"] = k.ec.kid
		tok.Header["crit"] = []string{"exp"}
		s, err := tok.SignedString(k.ec.key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	withKid := func(s signer, kid string) signer { s.kid = kid; return s }
	rs := func(s signer, m jwt.SigningMethod) signer { s.method = m; return s }

	tests := []struct {
		name    string
		header  string
		wantErr error
	}{
		{"RS256", "Bearer " + sign(t, k.rsa, claims(nil)), nil},
		{"RS512", "Bearer " + sign(t, rs(k.rsa, jwt.SigningMethodRS512), claims(nil)), nil},
		{"PS256 under an RSA key without alg", "Bearer " + sign(t, rs(k.rsa, jwt.SigningMethodPS256), claims(nil)), nil},
		{"PS256 under an RSA key stating PS256", "Bearer " + sign(t, k.rsaPS, claims(nil)), nil},
		{"ES256", "Bearer " + sign(t, k.ec, claims(nil)), nil},
		{"EdDSA", "Bearer " + sign(t, k.ed, claims(nil)), nil},
		{"scheme is case-insensitive", "bearer " + valid, nil},
		{"audience among several", "Bearer " + sign(t, k.rsa, claims(func(c jwt.MapClaims) { c["aud"] = []string{"other", testAudience} })), nil},
		{"expired within the leeway", "Bearer " + sign(t, k.ec, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() })), nil},
		{"nbf ahead within the leeway", "Bearer " + sign(t, k.ec, claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(10 * time.Second).Unix() })), nil},

		{"expired", "Bearer " + sign(t, k.rsa, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), callerauth.ErrExpired},
		{"nbf in the future", "Bearer " + sign(t, k.ed, claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), callerauth.ErrNotYetValid},
		{"iat in the future", "Bearer " + sign(t, k.ed, claims(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() })), callerauth.ErrNotYetValid},
		{"missing exp", "Bearer " + sign(t, k.rsa, claims(func(c jwt.MapClaims) { delete(c, "exp") })), callerauth.ErrNoExpiry},
		{"wrong issuer", "Bearer " + sign(t, k.rsa, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })), callerauth.ErrIssuer},
		{"missing issuer", "Bearer " + sign(t, k.rsa, claims(func(c jwt.MapClaims) { delete(c, "iss") })), callerauth.ErrIssuer},
		{"wrong audience", "Bearer " + sign(t, k.ec, claims(func(c jwt.MapClaims) { c["aud"] = "other" })), callerauth.ErrAudience},
		{"missing audience", "Bearer " + sign(t, k.ec, claims(func(c jwt.MapClaims) { delete(c, "aud") })), callerauth.ErrAudience},

		{"alg none under a known kid", "Bearer " + none("rsa-1"), callerauth.ErrAlgorithm},
		{"alg none without kid", "Bearer " + none(""), callerauth.ErrUnknownKey},
		{"HS256 keyed with the RSA public key PEM", "Bearer " + hmacWith(t, "rsa-1", pemBytes), callerauth.ErrAlgorithm},
		{"HS256 keyed with the RSA public key DER", "Bearer " + hmacWith(t, "rsa-1", der), callerauth.ErrAlgorithm},
		{"HS256 keyed with the Ed25519 public key", "Bearer " + hmacWith(t, "ed-1", edDER), callerauth.ErrAlgorithm},
		{"RS256 under a key stating PS256", "Bearer " + sign(t, rs(k.rsaPS, jwt.SigningMethodRS256), claims(nil)), callerauth.ErrAlgorithm},
		{"RS256 under an EC kid", "Bearer " + sign(t, withKid(k.rsa, "ec-1"), claims(nil)), callerauth.ErrAlgorithm},
		{"EdDSA under an RSA kid", "Bearer " + sign(t, withKid(k.ed, "rsa-1"), claims(nil)), callerauth.ErrAlgorithm},
		{"unknown kid", "Bearer " + sign(t, withKid(k.rsa, "rsa-9"), claims(nil)), callerauth.ErrUnknownKey},
		{"no kid", "Bearer " + sign(t, withKid(k.rsa, ""), claims(nil)), callerauth.ErrUnknownKey},
		{"unknown RSA signer under a known kid", "Bearer " + sign(t, k.rsaOther, claims(nil)), callerauth.ErrSignature},
		{"unknown EC signer under a known kid", "Bearer " + sign(t, k.ecOther, claims(nil)), callerauth.ErrSignature},
		{"claims changed under a valid signature", "Bearer " + forged, callerauth.ErrSignature},
		{"critical header extension", "Bearer " + crit(), callerauth.ErrMalformed},
		{"signature respelled", "Bearer " + respelled, callerauth.ErrMalformed},

		{"empty", "", callerauth.ErrNoToken},
		{"Basic", "Basic dXNlcjpwYXNz", callerauth.ErrNoToken},
		{"token without scheme", valid, callerauth.ErrNoToken},
		{"Bearer alone", "Bearer", callerauth.ErrMalformedHeader},
		{"Bearer and a space", "Bearer ", callerauth.ErrMalformedHeader},
		{"two spaces", "Bearer  " + valid, callerauth.ErrMalformedHeader},
		{"trailing space", "Bearer " + valid + " ", callerauth.ErrMalformedHeader},
		{"tab", "Bearer\t" + valid, callerauth.ErrNoToken},
		{"two tokens", "Bearer " + valid + " " + valid, callerauth.ErrMalformedHeader},
		{"quoted", `Bearer "` + valid + `"`, callerauth.ErrMalformedHeader},
		{"padding", "Bearer " + valid + "=", callerauth.ErrMalformedHeader},
		{"not a JWT", "Bearer abcdef", callerauth.ErrMalformed},
		{"empty segments", "Bearer ..", callerauth.ErrMalformed},
		{"garbage segments", "Bearer a.b.c", callerauth.ErrMalformed},
		{"four segments", "Bearer " + valid + ".x", callerauth.ErrMalformed},
		{"huge", "Bearer " + strings.Repeat("a", callerauth.MaxTokenBytes+1), callerauth.ErrTokenTooLarge},
		{"huge but validly signed", "Bearer " + sign(t, k.rsa, claims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", callerauth.MaxTokenBytes) })), callerauth.ErrTokenTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			caller, err := v.Verify(tt.header)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if caller.Subject != "caller-1" || caller.Issuer != testIssuer || caller.KeyID == "" || caller.ExpiresAt.IsZero() {
					t.Errorf("caller = %+v", caller)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			// The text is the fixed reason: nothing of the token.
			if err.Error() != tt.wantErr.Error() {
				t.Errorf("error text %q, want exactly %q", err.Error(), tt.wantErr.Error())
			}
			if !cmp.Equal(caller, callerauth.Caller{}) {
				t.Errorf("refused, yet caller = %+v", caller)
			}
		})
	}
}

// TestVerifyOptional shows that issuer and audience are checked only when
// configured, and that leeway is configurable.
func TestVerifyOptional(t *testing.T) {
	t.Parallel()
	k := keys()
	path := t.TempDir() + "/jwks.json"
	writeFile(t, path, standardJWKS(t))
	tests := []struct {
		name    string
		cfg     callerauth.Config
		claims  jwt.MapClaims
		wantErr error
	}{
		{"no issuer or audience configured", callerauth.Config{}, claims(func(c jwt.MapClaims) { delete(c, "iss"); delete(c, "aud") }), nil},
		{"no leeway", callerauth.Config{Leeway: -1}, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-2 * time.Second).Unix() }), callerauth.ErrExpired},
		{"longer leeway", callerauth.Config{Leeway: 5 * time.Minute}, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.JWKSFile = path
			v := newVerifier(t, tt.cfg)
			_, err := v.Verify("Bearer " + sign(t, k.ec, tt.claims))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
