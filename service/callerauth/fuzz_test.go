package callerauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/smartassist-bridge/smartassist-bridge/service/callerauth"
)

// FuzzVerify feeds arbitrary Authorization values to Verify. It must never
// panic, its error text must be one of the fixed reasons (so nothing of the
// input is echoed), and it may accept only the valid tokens it was seeded
// with, byte for byte (the scheme's case aside): any change to a signed
// token must be refused.
//
// ECDSA signatures have a second valid form, (r, n-s), for the same claims;
// this property does not cover it (a fuzzer cannot compute it) and it grants
// nothing the original token does not.
func FuzzVerify(f *testing.F) {
	k := keys()
	path := f.TempDir() + "/jwks.json"
	writeFile(f, path, standardJWKS(f))
	v := newVerifier(f, callerauth.Config{JWKSFile: path, Issuer: testIssuer, Audience: testAudience})

	// Valid for the whole run: a long fuzz session must not see them expire.
	long := func(c jwt.MapClaims) { c["exp"] = time.Now().Add(24 * time.Hour).Unix() }
	valid := map[string]bool{}
	for _, s := range []signer{k.rsa, k.rsaPS, k.ec, k.ed} {
		tok := sign(f, s, claims(long))
		valid[tok] = true
		f.Add("Bearer " + tok)
	}
	for _, seed := range []string{
		"", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b.c", "Bearer ..", "bearer x.y.z",
		"Bearer " + sign(f, k.rsaOther, claims(long)),
		"Bearer " + sign(f, k.ec, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
		"Bearer " + sign(f, k.ed, claims(func(c jwt.MapClaims) { long(c); c["aud"] = "other" })),
		"Bearer eyJhbGciOiJub25lIiwia2lkIjoicnNhLTEifQ.eyJzdWIiOiJ4In0.",
		"Bearer " + strings.Repeat("A", callerauth.MaxTokenBytes+1),
	} {
		f.Add(seed)
	}
	reasons := map[string]bool{}
	for _, e := range []error{callerauth.ErrNoToken, callerauth.ErrMalformedHeader, callerauth.ErrTokenTooLarge,
		callerauth.ErrMalformed, callerauth.ErrUnknownKey, callerauth.ErrAlgorithm, callerauth.ErrSignature,
		callerauth.ErrExpired, callerauth.ErrNotYetValid, callerauth.ErrNoExpiry, callerauth.ErrIssuer, callerauth.ErrAudience} {
		reasons[e.Error()] = true
	}

	f.Fuzz(func(t *testing.T, header string) {
		caller, err := v.Verify(header)
		if err != nil {
			if !reasons[err.Error()] {
				t.Fatalf("error text %q is not a fixed reason", err.Error())
			}
			return
		}
		scheme, token, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "Bearer") || !valid[token] {
			t.Fatalf("accepted a token that is not one of the signed ones: %q", header)
		}
		if caller.Subject != "caller-1" {
			t.Fatalf("caller = %+v", caller)
		}
	})
}
