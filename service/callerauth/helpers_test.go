package callerauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/smartassist-bridge/smartassist-bridge/service/callerauth"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "smartassist-bridge"
)

// signer is a private key, the kid a token names and the algorithm it signs with.
type signer struct {
	kid    string
	method jwt.SigningMethod
	key    crypto.Signer
}

func (s signer) public() crypto.PublicKey { return s.key.Public() }

// testKeys are generated once per test binary: RSA generation is slow.
type testKeys struct {
	rsa, rsaPS, ec, ed signer // in the JWKS
	rsaOther, ecOther  signer // not in the JWKS; they reuse the kids of rsa and ec
}

var keys = sync.OnceValue(func() testKeys {
	rsa1 := must(rsa.GenerateKey(rand.Reader, 2048))
	rsa2 := must(rsa.GenerateKey(rand.Reader, 2048))
	rsa3 := must(rsa.GenerateKey(rand.Reader, 2048))
	ec1 := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	ec2 := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	_, ed1, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return testKeys{
		rsa:      signer{"rsa-1", jwt.SigningMethodRS256, rsa1},
		rsaPS:    signer{"rsa-ps", jwt.SigningMethodPS256, rsa2},
		ec:       signer{"ec-1", jwt.SigningMethodES256, ec1},
		ed:       signer{"ed-1", jwt.SigningMethodEdDSA, ed1},
		rsaOther: signer{"rsa-1", jwt.SigningMethodRS256, rsa3},
		ecOther:  signer{"ec-1", jwt.SigningMethodES256, ec2},
	}
})

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// jwksJSON is a JWK Set of the public keys; statedAlg names signers whose
// JWK states its "alg".
func jwksJSON(t testing.TB, statedAlg map[string]bool, signers ...signer) []byte {
	t.Helper()
	store := jwkset.NewMemoryStorage()
	for _, s := range signers {
		meta := jwkset.JWKMetadataOptions{KID: s.kid}
		if statedAlg[s.kid] {
			meta.ALG = jwkset.ALG(s.method.Alg())
		}
		jwk, err := jwkset.NewJWKFromKey(s.public(), jwkset.JWKOptions{Metadata: meta})
		if err != nil {
			t.Fatalf("JWK for %s: %v", s.kid, err)
		}
		if err := store.KeyWrite(context.Background(), jwk); err != nil {
			t.Fatal(err)
		}
	}
	data, err := store.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// standardJWKS is the key set most tests trust.
func standardJWKS(t testing.TB) []byte {
	k := keys()
	return jwksJSON(t, map[string]bool{"rsa-ps": true}, k.rsa, k.rsaPS, k.ec, k.ed)
}

// claims returns valid claims for the test issuer and audience; edit
// changes them (delete a key to omit a claim).
func claims(edit func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub": "caller-1",
		"iss": testIssuer,
		"aud": testAudience,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(t testing.TB, s signer, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, c)
	if s.kid != "" {
		tok.Header["kid"] = s.kid
	}
	str, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return str
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceFile replaces path atomically, as an editor or a config tool would.
func replaceFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// secretVolume lays files out as the kubelet does for a Secret volume:
// <dir>/..<timestamp>/jwks.json holds the data, <dir>/..data is a symlink
// to the current timestamped directory, and <dir>/jwks.json is a symlink
// to ..data/jwks.json. An update writes a new directory and renames a new
// symlink over ..data, which is atomic.
type secretVolume struct {
	dir string
	gen int
	old string
}

func newSecretVolume(t testing.TB, data []byte) (*secretVolume, string) {
	t.Helper()
	v := &secretVolume{dir: t.TempDir()}
	v.update(t, data)
	path := filepath.Join(v.dir, "jwks.json")
	if err := os.Symlink(filepath.Join("..data", "jwks.json"), path); err != nil {
		t.Fatal(err)
	}
	return v, path
}

func (v *secretVolume) update(t testing.TB, data []byte) {
	t.Helper()
	v.gen++
	ts := fmt.Sprintf("..2026_12_02_03_00_%02d.%d", v.gen, v.gen)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(v.dir, ts, "jwks.json"), data)
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if v.old != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, v.old)); err != nil {
			t.Fatal(err)
		}
	}
	v.old = ts
}

// newVerifier starts a verifier over path, closed at the end of the test.
func newVerifier(t testing.TB, cfg callerauth.Config) *callerauth.Verifier {
	t.Helper()
	v, err := callerauth.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

// standardVerifier trusts standardJWKS with the test issuer and audience.
func standardVerifier(t testing.TB) *callerauth.Verifier {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, path, standardJWKS(t))
	return newVerifier(t, callerauth.Config{JWKSFile: path, Issuer: testIssuer, Audience: testAudience})
}
