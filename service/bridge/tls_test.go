package bridge_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/bridge"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files
// and returns their paths and a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smartassist-bridge test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS: with a certificate, the one port serves gRPC over HTTP/2 (ALPN)
// and Connect over HTTP/1.1, both encrypted.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	fake := newFake(t)
	rb := startBridge(t, bridge.Options{Service: service.Options{Upstream: newUpstream(t, fake.URL, nil)}},
		bridge.ServeOptions{CertFile: certFile, KeyFile: keyFile})

	conn, err := grpc.NewClient(rb.Addr, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	var res smartassistv1.GetConversationResponse
	err = conn.Invoke(t.Context(), smartassistv1connect.ConversationServiceGetConversationProcedure, sampleRequest(), &res)
	checkSample(t, &res, err)

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	var proto string
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		res, err := tr.RoundTrip(r)
		if err == nil {
			proto = res.Proto
		}
		return res, err
	})}
	client := smartassistv1connect.NewConversationServiceClient(connect.NewClient(
		connecthttp.NewTransport(hc, "https://"+rb.Addr, connecthttp.WithProtoJSON())))
	got, err := client.GetConversation(t.Context(), sampleRequest())
	checkSample(t, got, err)
	if proto != "HTTP/1.1" {
		t.Errorf("Connect over TLS used %q, want HTTP/1.1 (no ALPN h2 offered by this client)", proto)
	}

	// Plain text on the TLS port is refused, not served.
	plain := newClient(t, rb.URL, false)
	if _, err := plain.GetConversation(t.Context(), sampleRequest()); err == nil {
		t.Error("a cleartext call on the TLS port succeeded")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
