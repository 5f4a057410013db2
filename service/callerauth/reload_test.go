package callerauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service/callerauth"
)

type syncBuffer = rpctest.SyncBuffer

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	k := keys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte // nil: no file at all
		want string // in the error
	}{
		{"missing file", nil, "no such file"},
		{"empty file", []byte{}, "not a JWK Set"},
		{"not JSON", []byte("keys: ["), "not a JWK Set"},
		{"no keys", []byte(`{"keys":[]}`), "no usable verification key"},
		{"only a symmetric key", []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}`), "no usable verification key"},
		{"only an encryption key", jwksWithUse(t, "enc"), "no usable verification key"},
		{"only keys without kid", jwksJSON(t, nil, signer{key: k.ec.key, method: k.ec.method}), "no usable verification key"},
		{"only a short RSA key", jwksJSON(t, nil, signer{kid: "short", key: small, method: k.rsa.method}), "no usable verification key"},
		{"an EC key stating an RSA alg", []byte(strings.Replace(string(jwksJSON(t, nil, k.ec)), `"kty"`, `"alg":"RS256","kty"`, 1)), "no usable verification key"},
		{"only a key whose key_ops exclude verify", []byte(strings.Replace(string(jwksJSON(t, nil, k.ec)), `"kty"`, `"key_ops":["encrypt"],"kty"`, 1)), "no usable verification key"},
		{"only an X25519 key", []byte(`{"keys":[{"kty":"OKP","crv":"X25519","kid":"x","x":"` + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)) + `"}]}`), "no usable verification key"},
		{"two keys with one kid", jwksJSON(t, nil, k.rsa, k.rsaOther), `two keys share kid "rsa-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "jwks.json")
			if tt.data != nil {
				writeFile(t, path, tt.data)
			}
			v, err := callerauth.New(context.Background(), callerauth.Config{JWKSFile: path})
			if err == nil {
				v.Close()
				t.Fatal("New accepted the key file")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %q, want it to say %q", err, tt.want)
			}
		})
	}
	if _, err := callerauth.New(context.Background(), callerauth.Config{}); err == nil {
		t.Error("New accepted a config without a JWKS file")
	}
}

// jwksWithUse is the standard EC key with the given "use".
func jwksWithUse(t *testing.T, use string) []byte {
	return []byte(strings.Replace(string(jwksJSON(t, nil, keys().ec)), `"kty"`, `"use":"`+use+`","kty"`, 1))
}

// TestUnusableKeysAreSkipped: a set mixing good and unusable keys loads the
// good ones; the log names the skipped kid but none of its material.
func TestUnusableKeysAreSkipped(t *testing.T) {
	t.Parallel()
	k := keys()
	const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ"
	good := string(jwksJSON(t, nil, k.ec))
	data := strings.Replace(good, `"keys":[`, `"keys":[{"kty":"oct","kid":"hmac-1","alg":"HS256","k":"`+secret+`"},`, 1)
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, path, []byte(data))
	var logs syncBuffer
	v := newVerifier(t, callerauth.Config{JWKSFile: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	if _, err := v.Verify("Bearer " + sign(t, k.ec, claims(nil))); err != nil {
		t.Errorf("EC key not loaded: %v", err)
	}
	if _, err := v.Verify("Bearer " + hmacWith(t, "hmac-1", []byte("secret-secret-secret"))); !errors.Is(err, callerauth.ErrUnknownKey) {
		t.Errorf("HS256 under the skipped oct key: %v, want %v", err, callerauth.ErrUnknownKey)
	}
	out := logs.String()
	if !strings.Contains(out, "hmac-1") {
		t.Errorf("log does not name the skipped key:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("log contains key material:\n%s", out)
	}
}

// TestPrivateKeyMaterialIgnored: a JWK that carries its private half is
// used for its public half only, with a warning that names no material.
func TestPrivateKeyMaterialIgnored(t *testing.T) {
	t.Parallel()
	k := keys()
	jwk, err := jwkset.NewJWKFromKey(k.ec.key, jwkset.JWKOptions{
		Marshal:  jwkset.JWKMarshalOptions{Private: true},
		Metadata: jwkset.JWKMetadataOptions{KID: k.ec.kid},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := jwk.Marshal()
	if m.D == "" {
		t.Fatal("test JWK has no private part")
	}
	data, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{m}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, path, data)
	var logs syncBuffer
	v := newVerifier(t, callerauth.Config{JWKSFile: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if _, err := v.Verify("Bearer " + sign(t, k.ec, claims(nil))); err != nil {
		t.Errorf("Verify: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "private key material") {
		t.Errorf("no warning about the private key:\n%s", out)
	}
	if strings.Contains(out, m.D) {
		t.Errorf("log contains the private key:\n%s", out)
	}
}

// TestReloadKubernetesSecret rotates keys the way the kubelet updates a
// mounted Secret: the path is a symlink through "..data", which is swapped
// to a new directory, and the old directory is removed.
func TestReloadKubernetesSecret(t *testing.T) {
	t.Parallel()
	k := keys()
	vol, path := newSecretVolume(t, jwksJSON(t, nil, k.rsa))
	reloads := make(chan bool, 10)
	const interval = 20 * time.Millisecond
	v := newVerifier(t, callerauth.Config{JWKSFile: path, ReloadInterval: interval, OnReload: func(ok bool) { reloads <- ok }})

	oldToken := "Bearer " + sign(t, k.rsa, claims(nil))
	newToken := "Bearer " + sign(t, k.ec, claims(nil))
	if _, err := v.Verify(oldToken); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	if _, err := v.Verify(newToken); !errors.Is(err, callerauth.ErrUnknownKey) {
		t.Fatalf("new key before rotation: %v", err)
	}

	rotated := time.Now()
	vol.update(t, jwksJSON(t, nil, k.ec))
	select {
	case ok := <-reloads:
		if !ok {
			t.Fatal("reload after rotation failed")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no reload within 2s of the rotation")
	}
	t.Logf("reloaded %v after the swap (interval %v)", time.Since(rotated), interval)
	if _, err := v.Verify(newToken); err != nil {
		t.Errorf("new key after rotation: %v", err)
	}
	if _, err := v.Verify(oldToken); !errors.Is(err, callerauth.ErrUnknownKey) {
		t.Errorf("old key after rotation: %v, want %v", err, callerauth.ErrUnknownKey)
	}

	// The same content again (a resync) is not a reload.
	vol.update(t, jwksJSON(t, nil, k.ec))
	select {
	case <-reloads:
		t.Error("unchanged content reloaded")
	case <-time.After(10 * interval):
	}
}

// TestReloadKeepsKeysOnBadFile: a broken, then missing, key file keeps
// the keys in use; a good file after that is loaded.
func TestReloadKeepsKeysOnBadFile(t *testing.T) {
	t.Parallel()
	k := keys()
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, path, jwksJSON(t, nil, k.rsa))
	reloads := make(chan bool, 10)
	var logs syncBuffer
	v := newVerifier(t, callerauth.Config{
		JWKSFile: path, ReloadInterval: 20 * time.Millisecond,
		OnReload: func(ok bool) { reloads <- ok },
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	rsaToken := "Bearer " + sign(t, k.rsa, claims(nil))
	edToken := "Bearer " + sign(t, k.ed, claims(nil))
	next := func() bool {
		t.Helper()
		select {
		case ok := <-reloads:
			return ok
		case <-time.After(2 * time.Second):
			t.Fatal("no reload within 2s")
			return false
		}
	}

	good := jwksJSON(t, nil, k.ed)
	replaceFile(t, path, good[:len(good)/2])
	if next() {
		t.Fatal("a truncated file reloaded")
	}
	if _, err := v.Verify(rsaToken); err != nil {
		t.Errorf("old key after a broken file: %v", err)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	rpctest.Eventually(t, "warning about the missing file", func() bool { return strings.Contains(logs.String(), "cannot read caller keys") })
	if _, err := v.Verify(rsaToken); err != nil {
		t.Errorf("old key after the file went missing: %v", err)
	}

	replaceFile(t, path, good)
	if !next() {
		t.Fatal("a good file did not reload")
	}
	if _, err := v.Verify(edToken); err != nil {
		t.Errorf("new key: %v", err)
	}
	if _, err := v.Verify(rsaToken); !errors.Is(err, callerauth.ErrUnknownKey) {
		t.Errorf("old key after reload: %v", err)
	}
	var set struct{ Keys []struct{ X string } }
	if err := json.Unmarshal(good, &set); err != nil || len(set.Keys) != 1 || set.Keys[0].X == "" {
		t.Fatalf("test JWKS: %v %+v", err, set)
	}
	if strings.Contains(logs.String(), set.Keys[0].X) {
		t.Errorf("log contains key material:\n%s", logs.String())
	}
}

// TestReloadEndsWithContext: the reload goroutine stops when New's context
// ends, without Close (goleak in TestMain checks the goroutine is gone).
func TestReloadEndsWithContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, path, standardJWKS(t))
	ctx, cancel := context.WithCancel(context.Background())
	v, err := callerauth.New(ctx, callerauth.Config{JWKSFile: path, ReloadInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	v.Close() // returns only once the goroutine has ended
	v.Close() // and may be called again
}
