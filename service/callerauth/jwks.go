package callerauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/MicahParks/jwkset"
)

// minRSABits is the smallest RSA modulus we verify with: shorter keys are
// skipped at load time (NIST SP 800-57 retired 1024-bit RSA in 2013).
const minRSABits = 2048

// maxJWKSBytes bounds the key file we read: a JWKS of a few dozen keys is
// tens of KiB, so anything this large is a mistake, not a key set.
const maxJWKSBytes = 1 << 20

// verificationKey is one usable public key and the JWS algorithms it may
// verify, decided by its type (and narrowed by the JWK's "alg" if any).
type verificationKey struct {
	key  any // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	algs []string
}

// keySet is one loaded JWKS: key id -> key. It is never modified once
// built; a reload builds a new one and swaps the pointer.
type keySet struct {
	keys map[string]verificationKey
}

// skippedKey says why one JWK of the file is not used (or, with used set,
// what is wrong with one that is), for the log.
type skippedKey struct {
	kid    string
	reason string
	used   bool
}

// rsaAlgs are the RSA signature algorithms of RFC 7518 section 3.
var rsaAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// parseJWKS reads a JWK Set. jwkset decodes each key's parameters (and
// refuses symmetric "oct" keys, because we never ask it for private
// material); this function decides which keys are usable for verifying
// caller tokens and with which algorithms. Keys that cannot be used are
// skipped and reported; a file that is not a JWK Set, has a duplicate
// "kid", or leaves no usable key is an error.
func parseJWKS(data []byte) (*keySet, []skippedKey, error) {
	var raw jwkset.JWKSMarshal
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	set := &keySet{keys: make(map[string]verificationKey, len(raw.Keys))}
	var skipped []skippedKey
	seen := make(map[string]bool, len(raw.Keys))
	for i, m := range raw.Keys {
		if m.KID == "" {
			skipped = append(skipped, skippedKey{kid: fmt.Sprintf("#%d", i), reason: `no "kid": tokens must name their key`})
			continue
		}
		if seen[m.KID] {
			return nil, skipped, fmt.Errorf("two keys share kid %q", m.KID)
		}
		seen[m.KID] = true
		vk, err := usableKey(m)
		if err != nil {
			skipped = append(skipped, skippedKey{kid: m.KID, reason: err.Error()})
			continue
		}
		if m.D != "" || m.P != "" || m.Q != "" || m.K != "" {
			// A verifier needs only the public half; a private one here
			// means a signing key is being copied where it has no use.
			skipped = append(skipped, skippedKey{kid: m.KID, reason: "holds private key material, which is ignored: publish only the public key", used: true})
		}
		set.keys[m.KID] = vk
	}
	if len(set.keys) == 0 {
		return nil, skipped, errors.New("no usable verification key")
	}
	return set, skipped, nil
}

// usableKey turns one JWK into a verification key, or says why not.
func usableKey(m jwkset.JWKMarshal) (verificationKey, error) {
	if m.USE != "" && m.USE != jwkset.UseSig {
		return verificationKey{}, fmt.Errorf("use %q is not for signatures", m.USE)
	}
	if len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify) {
		return verificationKey{}, errors.New(`key_ops does not include "verify"`)
	}
	// Private: false: only public parameters are decoded, so an "oct"
	// (shared secret) key fails here and never becomes an HMAC key.
	jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return verificationKey{}, err
	}
	var algs []string
	switch k := jwk.Key().(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return verificationKey{}, fmt.Errorf("RSA key of %d bits is shorter than %d", k.N.BitLen(), minRSABits)
		}
		if k.E < 3 || k.E%2 == 0 {
			return verificationKey{}, errors.New("RSA public exponent is invalid")
		}
		algs = rsaAlgs
	case *ecdsa.PublicKey:
		// RFC 7518 section 3.4 ties each ES algorithm to one curve.
		switch k.Curve {
		case elliptic.P256():
			algs = []string{"ES256"}
		case elliptic.P384():
			algs = []string{"ES384"}
		case elliptic.P521():
			algs = []string{"ES512"}
		default:
			return verificationKey{}, errors.New("unsupported EC curve")
		}
	case ed25519.PublicKey:
		algs = []string{"EdDSA"}
	default:
		return verificationKey{}, fmt.Errorf("key type %q (crv %q) cannot verify signatures", m.KTY, m.CRV)
	}
	if m.ALG != "" {
		if !slices.Contains(algs, m.ALG.String()) {
			return verificationKey{}, fmt.Errorf("alg %q does not fit a %s key", m.ALG, m.KTY)
		}
		algs = []string{m.ALG.String()}
	}
	return verificationKey{key: jwk.Key(), algs: algs}, nil
}
