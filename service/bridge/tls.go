package bridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsConfig is the listener's TLS configuration: TLS 1.2 at least, HTTP/2
// and HTTP/1.1 offered by ALPN, and, with a client CA file, client
// certificates required and verified against the CAs in it (mTLS). The
// certificate and key themselves are loaded by http.Server.ServeTLS.
func tlsConfig(o ServeOptions) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
	}
	if o.ClientCAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(o.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client CA file %s: no PEM certificate in it", o.ClientCAFile)
	}
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = pool
	return cfg, nil
}

// errClientCAWithoutTLS: client certificates can only be asked for in a
// TLS handshake.
var errClientCAWithoutTLS = errors.New("a client CA file needs a certificate and key to serve TLS")
