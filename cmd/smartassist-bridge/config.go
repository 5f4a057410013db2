package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// envPrefix is the prefix of every flag's environment fallback:
// --client-secret is also SMARTASSIST_BRIDGE_CLIENT_SECRET.
const envPrefix = "SMARTASSIST_BRIDGE_"

// Config is everything the command can be told. Flags win over the
// environment.
type Config struct {
	Listen      string
	AdminListen string

	Upstream         string
	AccountID        string
	ClientID         string
	ClientSecret     string // never logged
	ClientSecretFile string
	JWTJTI           bool
	JWTTTL           time.Duration

	UpstreamTimeout  time.Duration
	UpstreamAttempts int
	MaxUpstreamBytes int64
	MaxRequestBytes  int

	CORSOrigins []string
	TLSCert     string
	TLSKey      string

	ShutdownTimeout time.Duration
	DrainDelay      time.Duration

	LogFormat string
	LogLevel  string
}

// Demo reports whether the bridge serves the embedded sample upstream.
func (c *Config) Demo() bool { return c.Upstream == "" }

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads flags from args with environment fallbacks from getenv,
// then validates. Errors name the flag (and the variable, when the value
// came from the environment).
func parseConfig(args []string, getenv func(string) string, usageOut io.Writer) (*Config, error) {
	var c Config
	var cors string
	fs := flag.NewFlagSet("smartassist-bridge", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	fs.StringVar(&c.Listen, "listen", ":8080", "address serving gRPC, gRPC-Web and Connect (host:port)")
	fs.StringVar(&c.AdminListen, "admin-listen", ":9090", "address serving /metrics, /healthz and /readyz; empty disables")
	fs.StringVar(&c.Upstream, "upstream", "", "SmartAssist base URL, e.g. https://smartassist.kore.ai; empty runs demo mode with an embedded sample upstream")
	fs.StringVar(&c.AccountID, "account-id", "", "SmartAssist account id sent when a request names none")
	fs.StringVar(&c.ClientID, "client-id", "", "SmartAssist app client id: mint JWTs instead of passing callers' through")
	fs.StringVar(&c.ClientSecret, "client-secret", "", "SmartAssist app client secret (prefer --client-secret-file or the environment)")
	fs.StringVar(&c.ClientSecretFile, "client-secret-file", "", "file holding the client secret")
	fs.BoolVar(&c.JWTJTI, "jwt-jti", false, "add a unique jti claim, minting a fresh JWT per upstream request")
	fs.DurationVar(&c.JWTTTL, "jwt-ttl", time.Hour, "lifetime of minted JWTs")
	fs.DurationVar(&c.UpstreamTimeout, "upstream-timeout", 10*time.Second, "cap on one SmartAssist call, retries included")
	fs.IntVar(&c.UpstreamAttempts, "upstream-attempts", 3, "SmartAssist attempts per call, the first included (1 disables retries)")
	fs.Int64Var(&c.MaxUpstreamBytes, "max-upstream-bytes", 8<<20, "largest SmartAssist response body accepted")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", 1<<20, "largest RPC request message accepted")
	fs.StringVar(&cors, "cors-origins", "", "comma-separated browser origins allowed to call (e.g. https://app.example.com); none by default")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate file; with --tls-key serves TLS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "time in-flight calls get to finish on SIGTERM")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 0, "time between reporting NOT_SERVING and closing the listener on SIGTERM")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: smartassist-bridge [flags]\n\nEvery flag can also be set as %s<FLAG> (e.g. %s).\n\n", envPrefix, envName("upstream"))
		fs.PrintDefaults()
	}

	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args())
	}
	// The environment fills in what the command line did not set, so a
	// flag always wins, even over an invalid variable.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fromEnv := map[string]bool{}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if v == "" || given[f.Name] {
			return
		}
		fromEnv[f.Name], given[f.Name] = true, true
		if err := fs.Set(f.Name, v); err != nil {
			envErr = errors.Join(envErr, fmt.Errorf("invalid %s for --%s: %v", envName(f.Name), f.Name, err))
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	c.CORSOrigins = splitList(cors)
	if err := c.validate(given, fromEnv); err != nil {
		return nil, err
	}
	if c.ClientSecretFile != "" {
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--client-secret-file: %w", err)
		}
		c.ClientSecret = strings.TrimSpace(string(b))
		if c.ClientSecret == "" {
			return nil, fmt.Errorf("--client-secret-file %s is empty", c.ClientSecretFile)
		}
	}
	return &c, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// validate checks every setting, reporting all problems at once.
func (c *Config) validate(given, fromEnv map[string]bool) error {
	var errs []error
	bad := func(flagName, format string, args ...any) {
		where := "--" + flagName
		if fromEnv[flagName] {
			where += " (from " + envName(flagName) + ")"
		}
		errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
	}
	checkAddr := func(flagName, addr string, optional bool) {
		if addr == "" && optional {
			return
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(flagName, "want host:port, got %q", addr)
		}
	}
	checkAddr("listen", c.Listen, false)
	checkAddr("admin-listen", c.AdminListen, true)

	if c.Upstream != "" {
		u, err := url.Parse(c.Upstream)
		switch {
		case err != nil:
			bad("upstream", "not a URL")
		case u.Scheme != "http" && u.Scheme != "https":
			bad("upstream", "want an http or https URL, got scheme %q", u.Scheme)
		case u.Host == "":
			bad("upstream", "missing host")
		case u.User != nil:
			bad("upstream", "must not carry credentials; use --client-id and --client-secret")
		case u.RawQuery != "" || u.Fragment != "":
			bad("upstream", "must not have a query or fragment")
		}
	} else {
		// Demo mode must never be mistaken for production.
		for _, name := range []string{"account-id", "client-id", "client-secret", "client-secret-file"} {
			if given[name] {
				bad(name, "is set but --upstream is not: refusing to start in demo mode with production settings; set --upstream to SmartAssist's URL")
			}
		}
	}
	if c.ClientSecret != "" && c.ClientSecretFile != "" {
		bad("client-secret", "give the secret once: --client-secret or --client-secret-file, not both")
	}
	hasSecret := c.ClientSecret != "" || c.ClientSecretFile != ""
	if c.ClientID != "" && !hasSecret {
		bad("client-id", "needs --client-secret or --client-secret-file")
	}
	if c.ClientID == "" && hasSecret {
		bad("client-secret", "needs --client-id")
	}
	if c.JWTJTI && c.ClientID == "" {
		bad("jwt-jti", "only applies with --client-id")
	}
	if c.JWTTTL < time.Minute {
		bad("jwt-ttl", "must be at least 1m, got %s", c.JWTTTL)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-cert", "--tls-cert and --tls-key go together")
	}
	for _, f := range []struct {
		name string
		path string
	}{{"tls-cert", c.TLSCert}, {"tls-key", c.TLSKey}, {"client-secret-file", c.ClientSecretFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			bad(f.name, "cannot read %s: %v", f.path, errors.Unwrap(err))
		}
	}
	if c.UpstreamTimeout <= 0 {
		bad("upstream-timeout", "must be positive, got %s", c.UpstreamTimeout)
	}
	if c.UpstreamAttempts < 1 || c.UpstreamAttempts > 10 {
		bad("upstream-attempts", "must be 1 to 10, got %d", c.UpstreamAttempts)
	}
	if c.MaxUpstreamBytes < 1024 {
		bad("max-upstream-bytes", "must be at least 1024, got %d", c.MaxUpstreamBytes)
	}
	if c.MaxRequestBytes < 1024 {
		bad("max-request-bytes", "must be at least 1024, got %d", c.MaxRequestBytes)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown-timeout", "must be positive, got %s", c.ShutdownTimeout)
	}
	if c.DrainDelay < 0 {
		bad("drain-delay", "must not be negative, got %s", c.DrainDelay)
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		// Browsers send an origin without a path; rs/cors compares exactly,
		// so even a trailing slash would silently never match.
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad("cors-origins", "%q is not an origin like https://app.example.com", o)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log-format", "want text or json, got %q", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	return errors.Join(errs...)
}

// flagErrHelp is flag.ErrHelp: -h prints usage and exits cleanly.
var flagErrHelp = flag.ErrHelp

// isFlagSyntaxError reports errors the flag package has already printed
// along with the usage.
func isFlagSyntaxError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "flag provided but not defined") || strings.HasPrefix(msg, "invalid value") ||
		strings.HasPrefix(msg, "invalid boolean") || strings.HasPrefix(msg, "bad flag syntax") || strings.HasPrefix(msg, "flag needs an argument")
}
