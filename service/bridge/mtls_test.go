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

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate signed by the CA for the given use.
func (ca *testCA) issue(t *testing.T, name string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writeFile writes data to a new file in dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMutualTLS: with a client CA, the TLS listener serves gRPC (HTTP/2)
// and Connect (HTTP/1.1) to clients presenting a certificate that CA
// signed, and refuses the handshake to clients with none or with one from
// another CA.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, serverPool := selfSigned(t)
	clientCA, otherCA := newCA(t, "client CA"), newCA(t, "another CA")
	caFile := writeFile(t, t.TempDir(), "client-ca.pem", clientCA.pem)
	fake := newFake(t)
	rb := startBridge(t, bridge.Options{Service: service.Options{Upstream: newUpstream(t, fake.URL, nil)}},
		bridge.ServeOptions{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile})

	good := clientCA.issue(t, "trusted caller", x509.ExtKeyUsageClientAuth)
	foreign := otherCA.issue(t, "foreign caller", x509.ExtKeyUsageClientAuth)
	tests := []struct {
		name   string
		certs  []tls.Certificate
		wantOK bool
	}{
		{"certificate from the client CA", []tls.Certificate{good}, true},
		{"no certificate", nil, false},
		{"certificate from another CA", []tls.Certificate{foreign}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := &tls.Config{RootCAs: serverPool, Certificates: tt.certs, MinVersion: tls.VersionTLS12}

			t.Run("grpc over HTTP/2", func(t *testing.T) {
				conn, err := grpc.NewClient(rb.Addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg.Clone())))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				var res smartassistv1.GetConversationResponse
				err = conn.Invoke(t.Context(), getConversationMethod, sampleRequest(), &res)
				if tt.wantOK {
					checkSample(t, &res, err)
				} else if err == nil {
					t.Error("the call succeeded without a trusted client certificate")
				}
			})

			t.Run("connect over HTTP/1.1", func(t *testing.T) {
				p := new(http.Protocols)
				p.SetHTTP1(true)
				tr := &http.Transport{Protocols: p, TLSClientConfig: cfg.Clone()}
				defer tr.CloseIdleConnections()
				var proto string
				hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					res, err := tr.RoundTrip(r)
					if err == nil {
						proto = res.Proto
					}
					return res, err
				})}
				client := smartassistv1connect.NewConversationServiceClient(connect.NewClient(
					connecthttp.NewTransport(hc, "https://"+rb.Addr)))
				got, err := client.GetConversation(t.Context(), sampleRequest())
				if !tt.wantOK {
					if err == nil {
						t.Error("the call succeeded without a trusted client certificate")
					}
					return
				}
				checkSample(t, got, err)
				if proto != "HTTP/1.1" {
					t.Errorf("Connect used %q, want HTTP/1.1", proto)
				}
			})

			t.Run("handshake", func(t *testing.T) {
				conn, err := tls.Dial("tcp", rb.Addr, cfg.Clone())
				if err == nil {
					// With TLS 1.3 the server's verdict on the client
					// certificate arrives after the client's handshake ends.
					_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
					_, err = conn.Read(make([]byte, 1))
					conn.Close()
				}
				if tt.wantOK {
					// The server waits for a request: the read times out.
					if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
						t.Errorf("handshake with a trusted certificate: %v", err)
					}
				} else if err == nil {
					t.Error("the handshake succeeded without a trusted client certificate")
				} else {
					t.Logf("refused: %v", err)
				}
			})
		})
	}
}

// TestClientCAMisconfigured: a client CA without TLS, or a CA file that
// holds no certificate, stops Serve at once with an error.
func TestClientCAMisconfigured(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := selfSigned(t)
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty.pem", []byte("not a certificate"))
	tests := []struct {
		name string
		so   bridge.ServeOptions
	}{
		{"without TLS", bridge.ServeOptions{ClientCAFile: empty}},
		{"no certificate in the file", bridge.ServeOptions{CertFile: certFile, KeyFile: keyFile, ClientCAFile: empty}},
		{"missing file", bridge.ServeOptions{CertFile: certFile, KeyFile: keyFile, ClientCAFile: filepath.Join(dir, "absent.pem")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if err := bridge.NewWithHandler(http.NotFoundHandler()).Serve(t.Context(), ln, tt.so); err == nil {
				t.Error("Serve accepted the configuration")
			} else {
				t.Logf("Serve: %v", err)
			}
		})
	}
}
