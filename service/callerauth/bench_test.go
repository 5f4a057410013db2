package callerauth_test

import (
	"testing"

	"github.com/smartassist-bridge/smartassist-bridge/service/callerauth"
)

// BenchmarkVerify measures one verification per key type; RSA dominates.
func BenchmarkVerify(b *testing.B) {
	k := keys()
	path := b.TempDir() + "/jwks.json"
	writeFile(b, path, standardJWKS(b))
	v := newVerifier(b, callerauth.Config{JWKSFile: path, Issuer: testIssuer, Audience: testAudience})
	for _, s := range []signer{k.rsa, k.ec, k.ed} {
		header := "Bearer " + sign(b, s, claims(nil))
		b.Run(s.method.Alg(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(header); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
