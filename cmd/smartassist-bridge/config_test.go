package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/quota"
)

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// defaults is the configuration with no flags and no environment.
func defaults() Config {
	return Config{
		Listen:                 ":8080",
		AdminListen:            ":9090",
		JWTTTL:                 time.Hour,
		UpstreamTimeout:        10 * time.Second,
		UpstreamAttemptTimeout: 6 * time.Second,
		UpstreamAttempts:       3,
		MaxUpstreamBytes:       8 << 20,
		MaxUpstreamValues:      mapping.DefaultMaxValues,
		MaxConcurrentDecodes:   4,
		MaxRequestBytes:        1 << 20,
		MaxResponseBytes:       4 << 20,
		Cache:                  true,
		CacheClosedTTL:         10 * time.Minute,
		CacheLiveTTL:           5 * time.Second,
		CacheMaxBytes:          64 << 20,
		UpstreamRate:           quota.Rate{N: 60, Per: time.Minute},
		Replicas:               1,
		WatchInterval:          2 * time.Second,
		RequestReadTimeout:     30 * time.Second,
		ResponseWriteTimeout:   30 * time.Second,
		ShutdownTimeout:        20 * time.Second,
		LogFormat:              "text",
		LogLevel:               "info",
		LogFlushInterval:       100 * time.Millisecond,
	}
}

// writeFile writes content to a new file in a test directory and returns
// its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	secretFile := writeFile(t, "secret", "  file-secret-value\n")
	certFile := writeFile(t, "cert.pem", "not checked here")
	keyFile := writeFile(t, "key.pem", "not checked here")
	jwksFile := writeFile(t, "jwks.json", "not checked here")
	const upstream = "https://smartassist.example"

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(c *Config) // applied to defaults()
	}{
		{name: "no flags is demo mode", want: func(c *Config) {}},
		{
			name: "pass-through",
			args: []string{"--upstream", upstream, "--account-id", "acc-1"},
			want: func(c *Config) { c.Upstream, c.AccountID = upstream, "acc-1" },
		},
		{
			name: "client credentials with a secret file",
			args: []string{"--upstream", upstream, "--client-id", "cs-1", "--client-secret-file", secretFile, "--jwt-jti", "--jwt-ttl", "10m", "--caller-jwks-file", jwksFile},
			want: func(c *Config) {
				c.Upstream, c.ClientID, c.ClientSecretFile, c.ClientSecret = upstream, "cs-1", secretFile, "file-secret-value"
				c.JWTJTI, c.JWTTTL, c.CallerJWKSFile = true, 10*time.Minute, jwksFile
			},
		},
		{
			name: "client credentials from the environment",
			env: map[string]string{
				"SMARTASSIST_BRIDGE_UPSTREAM":      upstream,
				"SMARTASSIST_BRIDGE_CLIENT_ID":     "cs-env",
				"SMARTASSIST_BRIDGE_CLIENT_SECRET": "env-secret",
				// Accepting the risk from the environment, as a mesh
				// deployment would.
				"SMARTASSIST_BRIDGE_ALLOW_UNAUTHENTICATED_CALLERS": "true",
			},
			want: func(c *Config) {
				c.Upstream, c.ClientID, c.ClientSecret, c.AllowUnauthenticatedCallers = upstream, "cs-env", "env-secret", true
			},
		},
		{
			name: "environment fallback",
			env: map[string]string{
				"SMARTASSIST_BRIDGE_UPSTREAM":         "http://127.0.0.1:9999/prefix",
				"SMARTASSIST_BRIDGE_LISTEN":           "127.0.0.1:1",
				"SMARTASSIST_BRIDGE_ADMIN_LISTEN":     "",
				"SMARTASSIST_BRIDGE_UPSTREAM_TIMEOUT": "3s",
				"SMARTASSIST_BRIDGE_CORS_ORIGINS":     "https://a.example, http://b.example:8080,,",
				"SMARTASSIST_BRIDGE_LOG_FORMAT":       "json",
				"SMARTASSIST_BRIDGE_LOG_LEVEL":        "debug",
				"SMARTASSIST_BRIDGE_DRAIN_DELAY":      "5s",
			},
			want: func(c *Config) {
				c.Upstream, c.Listen, c.UpstreamTimeout = "http://127.0.0.1:9999/prefix", "127.0.0.1:1", 3*time.Second
				c.UpstreamAttemptTimeout = 3 * time.Second // the default yields to the shorter call timeout
				c.CORSOrigins = []string{"https://a.example", "http://b.example:8080"}
				c.LogFormat, c.LogLevel, c.DrainDelay = "json", "debug", 5*time.Second
			},
		},
		{
			name: "a flag overrides the environment",
			args: []string{"--upstream", "https://flag.example", "--upstream-timeout", "4s"},
			env:  map[string]string{"SMARTASSIST_BRIDGE_UPSTREAM": "https://env.example", "SMARTASSIST_BRIDGE_UPSTREAM_TIMEOUT": "9s"},
			want: func(c *Config) {
				c.Upstream, c.UpstreamTimeout = "https://flag.example", 4*time.Second
				c.UpstreamAttemptTimeout = 4 * time.Second // the default yields to the shorter call timeout
			},
		},
		{
			name: "everything else",
			args: []string{
				"--upstream", upstream, "--listen", "127.0.0.1:0", "--admin-listen", "",
				"--tls-cert", certFile, "--tls-key", keyFile, "--upstream-attempts", "1",
				"--max-upstream-bytes", "1024", "--max-request-bytes", "1024",
				"--shutdown-timeout", "1s", "--drain-delay", "0s", "--cors-origins", "*",
				"--log-level", "warn", "--tls-client-ca", certFile,
				"--allowed-accounts", "acc-1, acc-2", "--caller-jwks-file", jwksFile, "--caller-issuer", "https://idp.example",
				"--caller-audience", "bridge", "--cache=false", "--cache-closed-ttl", "1m", "--cache-live-ttl", "1s",
				"--cache-max-bytes", "1048576", "--upstream-rate", "10/10s", "--redis-url", "redis://:pw@127.0.0.1:6379/2",
				"--replicas", "3", "--watch-interval", "500ms", "--request-read-timeout", "5s", "--response-write-timeout", "6s",
				"--max-response-bytes", "2048", "--max-upstream-values", "1000", "--max-concurrent-decodes", "2",
				"--upstream-attempt-timeout", "1s", "--log-flush-interval", "0",
			},
			want: func(c *Config) {
				c.Upstream, c.Listen, c.AdminListen, c.TLSCert, c.TLSKey = upstream, "127.0.0.1:0", "", certFile, keyFile
				c.UpstreamAttempts, c.MaxUpstreamBytes, c.MaxRequestBytes, c.ShutdownTimeout = 1, 1024, 1024, time.Second
				c.CORSOrigins, c.LogLevel, c.TLSClientCA = []string{"*"}, "warn", certFile
				c.AllowedAccounts, c.CallerJWKSFile, c.CallerIssuer, c.CallerAudience = []string{"acc-1", "acc-2"}, jwksFile, "https://idp.example", "bridge"
				c.Cache, c.CacheClosedTTL, c.CacheLiveTTL, c.CacheMaxBytes = false, time.Minute, time.Second, 1<<20
				c.UpstreamRate, c.RedisURL, c.Replicas, c.WatchInterval = quota.Rate{N: 10, Per: 10 * time.Second}, "redis://:pw@127.0.0.1:6379/2", 3, 500*time.Millisecond
				c.RequestReadTimeout, c.ResponseWriteTimeout, c.MaxResponseBytes = 5*time.Second, 6*time.Second, 2048
				c.MaxUpstreamValues, c.MaxConcurrentDecodes, c.UpstreamAttemptTimeout = 1000, 2, time.Second
				c.LogFlushInterval = 0
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseConfig(tt.args, env(tt.env), new(bytes.Buffer))
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("Config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	secretFile := writeFile(t, "secret", "file-secret-value")
	emptyFile := writeFile(t, "empty", " \n")
	missing := filepath.Join(t.TempDir(), "missing")
	const upstream = "https://smartassist.example"

	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		want     []string // each must be in the error
		notWant  []string // none may be
		flagErr  bool     // a syntax error the flag package reports
		wantHelp bool
	}{
		// --upstream
		{name: "upstream scheme", args: []string{"--upstream", "ftp://smartassist.example"}, want: []string{"--upstream: ", `scheme "ftp"`}},
		{name: "upstream without scheme", args: []string{"--upstream", "smartassist.example"}, want: []string{"--upstream: ", "http or https"}},
		{name: "upstream host", args: []string{"--upstream", "https://"}, want: []string{"--upstream: ", "missing host"}},
		{name: "upstream not a URL", args: []string{"--upstream", "https://bad host\x7f"}, want: []string{"--upstream: ", "not a URL"}},
		{name: "upstream credentials", args: []string{"--upstream", "https://user:hunter2@smartassist.example"}, want: []string{"--upstream: ", "credentials"}, notWant: []string{"hunter2"}},
		{name: "upstream query", args: []string{"--upstream", upstream + "/?tenant=1"}, want: []string{"--upstream: ", "query"}},
		{name: "upstream fragment", args: []string{"--upstream", upstream + "/#x"}, want: []string{"--upstream: ", "fragment"}},
		{name: "upstream from env", env: map[string]string{"SMARTASSIST_BRIDGE_UPSTREAM": "ftp://env.example"}, want: []string{"--upstream (from SMARTASSIST_BRIDGE_UPSTREAM): ", `scheme "ftp"`}},
		{
			// The value at fault came from the flag, not the environment.
			name:    "upstream flag over env",
			args:    []string{"--upstream", "gopher://flag.example"},
			env:     map[string]string{"SMARTASSIST_BRIDGE_UPSTREAM": "ftp://env.example"},
			want:    []string{"--upstream: ", `scheme "gopher"`},
			notWant: []string{"SMARTASSIST_BRIDGE_UPSTREAM"},
		},

		// Demo mode refuses production settings, from flags or the
		// environment.
		{name: "demo with account id", args: []string{"--account-id", "acc-1"}, want: []string{"--account-id: ", "demo mode"}},
		{name: "demo with client id", args: []string{"--client-id", "cs-1", "--client-secret", "s"}, want: []string{"--client-id: ", "--client-secret: ", "demo mode"}},
		{name: "demo with secret file", args: []string{"--client-id", "cs-1", "--client-secret-file", secretFile}, want: []string{"--client-secret-file: ", "demo mode"}},
		{name: "demo with secret from env", env: map[string]string{"SMARTASSIST_BRIDGE_CLIENT_SECRET": "s"}, want: []string{"--client-secret (from SMARTASSIST_BRIDGE_CLIENT_SECRET): ", "demo mode"}},
		{name: "demo with client id from env", env: map[string]string{"SMARTASSIST_BRIDGE_CLIENT_ID": "cs-1", "SMARTASSIST_BRIDGE_CLIENT_SECRET_FILE": secretFile}, want: []string{"--client-id (from SMARTASSIST_BRIDGE_CLIENT_ID): ", "--client-secret-file (from SMARTASSIST_BRIDGE_CLIENT_SECRET_FILE): "}},
		{name: "demo with account from env", env: map[string]string{"SMARTASSIST_BRIDGE_ACCOUNT_ID": "acc"}, want: []string{"--account-id (from SMARTASSIST_BRIDGE_ACCOUNT_ID): ", "demo mode"}},

		// Credentials.
		{name: "id without secret", args: []string{"--upstream", upstream, "--client-id", "cs-1"}, want: []string{"--client-id: ", "needs --client-secret"}},
		{name: "secret without id", args: []string{"--upstream", upstream, "--client-secret", "s"}, want: []string{"--client-secret: ", "needs --client-id"}},
		{name: "secret file without id", args: []string{"--upstream", upstream, "--client-secret-file", secretFile}, want: []string{"--client-secret: ", "needs --client-id"}},
		{name: "secret and secret file", args: []string{"--upstream", upstream, "--client-id", "cs-1", "--client-secret", "s", "--client-secret-file", secretFile}, want: []string{"--client-secret: ", "not both"}},
		{name: "missing secret file", args: []string{"--upstream", upstream, "--client-id", "cs-1", "--client-secret-file", missing}, want: []string{"--client-secret-file: ", "cannot read"}},
		{name: "empty secret file", args: []string{"--upstream", upstream, "--client-id", "cs-1", "--client-secret-file", emptyFile, "--allow-unauthenticated-callers"}, want: []string{"--client-secret-file", "empty"}},
		{name: "jti without client id", args: []string{"--upstream", upstream, "--jwt-jti"}, want: []string{"--jwt-jti: "}},
		{name: "short jwt ttl", args: []string{"--upstream", upstream, "--client-id", "cs-1", "--client-secret", "s", "--jwt-ttl", "30s"}, want: []string{"--jwt-ttl: "}},
		{name: "secret never echoed", args: []string{"--client-id", "cs-1", "--client-secret", "very-secret-value"}, want: []string{"--client-secret: "}, notWant: []string{"very-secret-value"}},

		// Secure by default: the bridge's credentials are not lent to
		// whoever reaches the port.
		{
			name:    "client credentials without caller auth",
			args:    []string{"--upstream", upstream, "--client-id", "cs-1", "--client-secret", "very-secret-value"},
			want:    []string{"--client-id: ", "--caller-jwks-file", "--allow-unauthenticated-callers"},
			notWant: []string{"very-secret-value"},
		},
		{
			name: "client credentials, unauthenticated callers and any origin",
			args: []string{"--upstream", upstream, "--client-id", "cs-1", "--client-secret", "s", "--allow-unauthenticated-callers", "--cors-origins", "*"},
			want: []string{"--cors-origins: ", "any web page"},
		},
		{name: "issuer without jwks", args: []string{"--upstream", upstream, "--caller-issuer", "x"}, want: []string{"--caller-issuer: ", "--caller-jwks-file"}},
		{name: "audience without jwks", args: []string{"--upstream", upstream, "--caller-audience", "x"}, want: []string{"--caller-audience: "}},
		{name: "missing jwks file", args: []string{"--upstream", upstream, "--caller-jwks-file", missing}, want: []string{"--caller-jwks-file: ", "cannot read"}},
		{name: "allow-unauthenticated with jwks", args: []string{"--upstream", upstream, "--caller-jwks-file", secretFile, "--allow-unauthenticated-callers"}, want: []string{"--allow-unauthenticated-callers: "}},
		{name: "bad allowed account", args: []string{"--upstream", upstream, "--allowed-accounts", "ok,../x"}, want: []string{"--allowed-accounts: "}},
		{name: "allowed accounts in demo", args: []string{"--allowed-accounts", "a"}, want: []string{"--allowed-accounts: ", "demo"}},

		// Quota stewardship.
		{name: "bad rate", args: []string{"--upstream-rate", "lots"}, want: []string{"--upstream-rate: "}},
		{name: "redis url", args: []string{"--redis-url", "http://user:hunter2@x"}, want: []string{"--redis-url: "}, notWant: []string{"hunter2"}},
		{name: "zero replicas", args: []string{"--replicas", "0"}, want: []string{"--replicas: "}},
		{name: "tiny watch interval", args: []string{"--watch-interval", "1ms"}, want: []string{"--watch-interval: "}},
		{name: "tiny cache", args: []string{"--cache-max-bytes", "1"}, want: []string{"--cache-max-bytes: "}},

		// Time and size bounds.
		{name: "read timeout over a minute", args: []string{"--request-read-timeout", "2m"}, want: []string{"--request-read-timeout: "}},
		{name: "zero write timeout", args: []string{"--response-write-timeout", "0s"}, want: []string{"--response-write-timeout: "}},
		{name: "attempt timeout over the call's", args: []string{"--upstream-attempt-timeout", "11s"}, want: []string{"--upstream-attempt-timeout: "}},
		{name: "tiny response cap", args: []string{"--max-response-bytes", "10"}, want: []string{"--max-response-bytes: "}},
		{name: "tiny value budget", args: []string{"--max-upstream-values", "10"}, want: []string{"--max-upstream-values: "}},
		{name: "no decodes", args: []string{"--max-concurrent-decodes", "0"}, want: []string{"--max-concurrent-decodes: "}},
		{name: "client CA without TLS", args: []string{"--tls-client-ca", secretFile}, want: []string{"--tls-client-ca: ", "--tls-cert"}},

		// TLS.
		{name: "cert without key", args: []string{"--tls-cert", secretFile}, want: []string{"--tls-cert: ", "go together"}},
		{name: "key without cert", args: []string{"--tls-key", secretFile}, want: []string{"--tls-cert: ", "go together"}},
		{name: "missing cert", args: []string{"--tls-cert", missing, "--tls-key", secretFile}, want: []string{"--tls-cert: ", "cannot read"}},

		// Numbers and durations.
		{name: "zero upstream timeout", args: []string{"--upstream-timeout", "0s"}, want: []string{"--upstream-timeout: ", "positive"}},
		{name: "negative upstream timeout", args: []string{"--upstream-timeout", "-1s"}, want: []string{"--upstream-timeout: ", "positive"}},
		{name: "zero shutdown timeout", args: []string{"--shutdown-timeout", "0s"}, want: []string{"--shutdown-timeout: ", "positive"}},
		{name: "negative drain delay", args: []string{"--drain-delay", "-1ms"}, want: []string{"--drain-delay: ", "negative"}},
		{name: "no attempts", args: []string{"--upstream-attempts", "0"}, want: []string{"--upstream-attempts: "}},
		{name: "too many attempts", args: []string{"--upstream-attempts", "11"}, want: []string{"--upstream-attempts: "}},
		{name: "tiny upstream body", args: []string{"--max-upstream-bytes", "1023"}, want: []string{"--max-upstream-bytes: "}},
		{name: "tiny request", args: []string{"--max-request-bytes", "0"}, want: []string{"--max-request-bytes: "}},
		{name: "bad duration from env", env: map[string]string{"SMARTASSIST_BRIDGE_UPSTREAM_TIMEOUT": "soon"}, want: []string{"SMARTASSIST_BRIDGE_UPSTREAM_TIMEOUT", "--upstream-timeout"}},
		{name: "bad number from env", env: map[string]string{"SMARTASSIST_BRIDGE_UPSTREAM_ATTEMPTS": "three"}, want: []string{"SMARTASSIST_BRIDGE_UPSTREAM_ATTEMPTS", "--upstream-attempts"}},
		{name: "bad value from env", env: map[string]string{"SMARTASSIST_BRIDGE_SHUTDOWN_TIMEOUT": "-5s"}, want: []string{"--shutdown-timeout (from SMARTASSIST_BRIDGE_SHUTDOWN_TIMEOUT): "}},

		// Addresses.
		{name: "listen", args: []string{"--listen", "8080"}, want: []string{"--listen: ", "host:port"}},
		{name: "empty listen", args: []string{"--listen", ""}, want: []string{"--listen: "}},
		{name: "admin listen", args: []string{"--admin-listen", "localhost"}, want: []string{"--admin-listen: ", "host:port"}},

		// CORS origins, which must be exactly what browsers send.
		{name: "origin without scheme", args: []string{"--cors-origins", "app.example.com"}, want: []string{"--cors-origins: ", `"app.example.com"`}},
		{name: "origin with path", args: []string{"--cors-origins", "https://app.example.com/app"}, want: []string{"--cors-origins: "}},
		{name: "origin with query", args: []string{"--cors-origins", "https://app.example.com?x=1"}, want: []string{"--cors-origins: "}},
		{name: "origin of another scheme", args: []string{"--cors-origins", "https://ok.example,chrome-extension://abc"}, want: []string{"--cors-origins: ", "chrome-extension"}, notWant: []string{"ok.example"}},
		{
			// Browsers never send a trailing slash in Origin, so this
			// origin could never match (CORS matching is exact).
			name: "origin with trailing slash",
			args: []string{"--cors-origins", "https://app.example.com/"},
			want: []string{"--cors-origins: ", `"https://app.example.com/"`},
		},

		// Logging.
		{name: "log format", args: []string{"--log-format", "xml"}, want: []string{"--log-format: ", `"xml"`}},
		{name: "log level", args: []string{"--log-level", "verbose"}, want: []string{"--log-level: ", `"verbose"`}},
		{name: "log flush interval negative", args: []string{"--log-flush-interval", "-1s"}, want: []string{"--log-flush-interval: ", "-1s"}},
		{name: "log flush interval too long", args: []string{"--log-flush-interval", "5m"}, want: []string{"--log-flush-interval: ", "5m0s"}},

		// Several problems are reported at once.
		{name: "all at once", args: []string{"--log-format", "xml", "--log-level", "loud", "--upstream-attempts", "0"}, want: []string{"--log-format: ", "--log-level: ", "--upstream-attempts: "}},

		// The flag package's own errors.
		{name: "positional arguments", args: []string{"https://smartassist.example"}, want: []string{"unexpected arguments"}},
		{name: "unknown flag", args: []string{"--no-such-flag"}, flagErr: true},
		{name: "bad flag value", args: []string{"--upstream-attempts", "many"}, flagErr: true},
		{name: "help", args: []string{"-h"}, wantHelp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var usage bytes.Buffer
			cfg, err := parseConfig(tt.args, env(tt.env), &usage)
			if err == nil {
				t.Fatalf("parseConfig accepted %v with env %v: %+v", tt.args, tt.env, cfg)
			}
			switch {
			case tt.wantHelp:
				if !errors.Is(err, flag.ErrHelp) {
					t.Errorf("err %v, want flag.ErrHelp", err)
				}
				if !strings.Contains(usage.String(), "SMARTASSIST_BRIDGE_UPSTREAM") {
					t.Errorf("usage does not mention the environment:\n%s", usage.String())
				}
				return
			case tt.flagErr:
				if !isFlagSyntaxError(err) {
					t.Errorf("err %v is not reported as a flag syntax error", err)
				}
				return
			}
			if isFlagSyntaxError(err) {
				t.Errorf("err %v is taken for a flag syntax error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q contains %q", err, w)
				}
			}
		})
	}
}
