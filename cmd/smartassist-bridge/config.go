package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/quota"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
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

	UpstreamTimeout        time.Duration
	UpstreamAttemptTimeout time.Duration
	UpstreamAttempts       int
	MaxUpstreamBytes       int64
	MaxUpstreamValues      int
	MaxConcurrentDecodes   int
	MaxRequestBytes        int
	MaxResponseBytes       int

	// Callers: who may use the bridge, and with which accounts.
	CallerJWKSFile              string
	CallerIssuer                string
	CallerAudience              string
	AllowUnauthenticatedCallers bool
	AllowedAccounts             []string

	// Quota stewardship: cache, coalescing and the per-account budget.
	Cache          bool
	CacheClosedTTL time.Duration
	CacheLiveTTL   time.Duration
	CacheMaxBytes  int64
	UpstreamRate   quota.Rate
	RedisURL       string // never logged: it may hold a password
	Replicas       int
	WatchInterval  time.Duration

	CORSOrigins []string
	TLSCert     string
	TLSKey      string
	TLSClientCA string

	RequestReadTimeout   time.Duration
	ResponseWriteTimeout time.Duration
	ShutdownTimeout      time.Duration
	DrainDelay           time.Duration

	LogFormat        string
	LogLevel         string
	LogFlushInterval time.Duration
}

// Demo reports whether the bridge serves the embedded sample upstream.
func (c *Config) Demo() bool { return c.Upstream == "" }

// LendsCredentials reports whether the bridge calls SmartAssist with its
// own credentials (client credentials), rather than only with tokens its
// callers bring.
func (c *Config) LendsCredentials() bool { return c.ClientID != "" }

// CallerAuth reports whether callers must present a verified JWT.
func (c *Config) CallerAuth() bool { return c.CallerJWKSFile != "" }

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads flags from args with environment fallbacks from getenv,
// then validates. Errors name the flag (and the variable, when the value
// came from the environment).
func parseConfig(args []string, getenv func(string) string, usageOut io.Writer) (*Config, error) {
	var c Config
	var cors, allowedAccounts, upstreamRate string
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
	fs.DurationVar(&c.UpstreamAttemptTimeout, "upstream-attempt-timeout", 6*time.Second, "cap on one SmartAssist attempt, so a hung attempt leaves time for a retry")
	fs.IntVar(&c.UpstreamAttempts, "upstream-attempts", 3, "SmartAssist attempts per call, the first included (1 disables retries)")
	fs.Int64Var(&c.MaxUpstreamBytes, "max-upstream-bytes", 8<<20, "largest SmartAssist response body accepted")
	fs.IntVar(&c.MaxUpstreamValues, "max-upstream-values", mapping.DefaultMaxValues, "most JSON values (objects, arrays, scalars) one SmartAssist answer may hold")
	fs.IntVar(&c.MaxConcurrentDecodes, "max-concurrent-decodes", 4, "most SmartAssist answers decoded at once; others wait their turn")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", 1<<20, "largest RPC request message accepted")
	fs.IntVar(&c.MaxResponseBytes, "max-response-bytes", 4<<20, "largest RPC response message sent (gRPC clients refuse more than 4 MiB by default)")
	fs.StringVar(&c.CallerJWKSFile, "caller-jwks-file", "", "JWKS file of the keys that sign callers' JWTs (Authorization: Bearer); reloaded when it changes")
	fs.StringVar(&c.CallerIssuer, "caller-issuer", "", "required iss of callers' JWTs")
	fs.StringVar(&c.CallerAudience, "caller-audience", "", "required aud of callers' JWTs")
	fs.BoolVar(&c.AllowUnauthenticatedCallers, "allow-unauthenticated-callers", false, "accept callers without a JWT while lending client credentials (only when something in front, e.g. a mesh, authenticates them)")
	fs.StringVar(&allowedAccounts, "allowed-accounts", "", "comma-separated account_id values a request may name with the bridge's credentials; default: only --account-id")
	fs.BoolVar(&c.Cache, "cache", true, "cache conversations and coalesce identical reads; false sends every call upstream")
	fs.DurationVar(&c.CacheClosedTTL, "cache-closed-ttl", 10*time.Minute, "how long a CLOSED conversation is served from the cache")
	fs.DurationVar(&c.CacheLiveTTL, "cache-live-ttl", 5*time.Second, "how long a conversation that is not CLOSED is served from the cache")
	fs.Int64Var(&c.CacheMaxBytes, "cache-max-bytes", 64<<20, "bound of the local conversation cache, in encoded bytes")
	fs.StringVar(&upstreamRate, "upstream-rate", "60/1m", "SmartAssist requests allowed per account, N/DURATION, in any window of DURATION; 0 disables the guard")
	fs.StringVar(&c.RedisURL, "redis-url", "", "redis://host:port/db shared by the replicas for the cache, coalescing, quota and watch pollers; empty keeps them per process")
	fs.IntVar(&c.Replicas, "replicas", 1, "replicas sharing the account's quota; without Redis each replica takes 1/replicas of --upstream-rate")
	fs.DurationVar(&c.WatchInterval, "watch-interval", 2*time.Second, "shortest time between two upstream polls of a watched conversation")
	fs.StringVar(&cors, "cors-origins", "", "comma-separated browser origins allowed to call (e.g. https://app.example.com); none by default")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate file; with --tls-key serves TLS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", "", "PEM CA bundle: require client certificates signed by it (mTLS)")
	fs.DurationVar(&c.RequestReadTimeout, "request-read-timeout", 30*time.Second, "time a request body has to arrive")
	fs.DurationVar(&c.ResponseWriteTimeout, "response-write-timeout", 30*time.Second, "time a unary response has to be written from its first byte, and each write of a stream")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "time in-flight calls get to finish on SIGTERM")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 0, "time between reporting NOT_SERVING and closing the listener on SIGTERM")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&c.LogFlushInterval, "log-flush-interval", 100*time.Millisecond, "longest time a debug or info line waits to be written with others (warnings and errors are written at once); 0 writes every line at once")
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
	c.AllowedAccounts = splitList(allowedAccounts)
	rate, rateErr := quota.ParseRate(upstreamRate)
	c.UpstreamRate = rate
	if err := c.validate(given, fromEnv, rateErr); err != nil {
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
func (c *Config) validate(given, fromEnv map[string]bool, rateErr error) error {
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
	if c.TLSClientCA != "" && c.TLSCert == "" {
		bad("tls-client-ca", "needs --tls-cert and --tls-key: client certificates are verified on the TLS listener")
	}
	c.validateCallers(bad)
	c.validateQuota(bad, rateErr)
	for _, f := range []struct {
		name string
		path string
	}{{"tls-cert", c.TLSCert}, {"tls-key", c.TLSKey}, {"tls-client-ca", c.TLSClientCA}, {"client-secret-file", c.ClientSecretFile}, {"caller-jwks-file", c.CallerJWKSFile}} {
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
	if !given["upstream-attempt-timeout"] {
		// The default yields to a shorter --upstream-timeout.
		c.UpstreamAttemptTimeout = min(c.UpstreamAttemptTimeout, max(c.UpstreamTimeout, 0))
	}
	if c.UpstreamAttemptTimeout <= 0 || c.UpstreamAttemptTimeout > c.UpstreamTimeout {
		bad("upstream-attempt-timeout", "must be positive and at most --upstream-timeout (%s), got %s", c.UpstreamTimeout, c.UpstreamAttemptTimeout)
	}
	if c.MaxUpstreamValues < 1000 {
		bad("max-upstream-values", "must be at least 1000, got %d", c.MaxUpstreamValues)
	}
	if c.MaxConcurrentDecodes < 1 {
		bad("max-concurrent-decodes", "must be at least 1, got %d", c.MaxConcurrentDecodes)
	}
	if c.MaxResponseBytes < 1024 {
		bad("max-response-bytes", "must be at least 1024, got %d", c.MaxResponseBytes)
	}
	if c.RequestReadTimeout <= 0 || c.RequestReadTimeout > time.Minute {
		bad("request-read-timeout", "must be positive and at most 1m, got %s", c.RequestReadTimeout)
	}
	if c.ResponseWriteTimeout <= 0 {
		bad("response-write-timeout", "must be positive, got %s", c.ResponseWriteTimeout)
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
	if c.LogFlushInterval < 0 || c.LogFlushInterval > time.Minute {
		bad("log-flush-interval", "want 0 to 1m, got %s", c.LogFlushInterval)
	}
	return errors.Join(errs...)
}

// validateCallers refuses the insecure configurations: lending the
// bridge's SmartAssist credentials to whoever can reach the port.
func (c *Config) validateCallers(bad func(flagName, format string, args ...any)) {
	if !c.CallerAuth() && c.CallerIssuer != "" {
		bad("caller-issuer", "only applies with --caller-jwks-file")
	}
	if !c.CallerAuth() && c.CallerAudience != "" {
		bad("caller-audience", "only applies with --caller-jwks-file")
	}
	if c.LendsCredentials() && !c.CallerAuth() {
		if !c.AllowUnauthenticatedCallers {
			bad("client-id", "lends the bridge's SmartAssist credentials to anyone who can reach --listen: "+
				"set --caller-jwks-file (with --caller-issuer and --caller-audience) so callers must present a JWT, "+
				"or, if something in front of the bridge (a mesh, a gateway) already authenticates every caller, "+
				"accept the risk with --allow-unauthenticated-callers")
		}
		for _, o := range c.CORSOrigins {
			if o == "*" {
				bad("cors-origins", "'*' with client credentials and no caller authentication lets any web page a user opens read conversations through their browser: "+
					"list the origins of your frontends, or set --caller-jwks-file")
			}
		}
	}
	if c.AllowUnauthenticatedCallers && c.CallerAuth() {
		bad("allow-unauthenticated-callers", "contradicts --caller-jwks-file: choose one")
	}
	if c.Demo() && len(c.AllowedAccounts) > 0 {
		bad("allowed-accounts", "is set but --upstream is not: demo mode has no accounts")
	}
	for _, a := range c.AllowedAccounts {
		if err := smartassist.ValidateID("account_id", a); err != nil {
			bad("allowed-accounts", "%v", err)
		}
	}
}

// validateQuota checks the cache, quota and Redis settings.
func (c *Config) validateQuota(bad func(flagName, format string, args ...any), rateErr error) {
	if rateErr != nil {
		bad("upstream-rate", "%v", rateErr)
	}
	if c.CacheClosedTTL < 0 || c.CacheLiveTTL < 0 {
		bad("cache-closed-ttl", "TTLs must not be negative")
	}
	if c.CacheMaxBytes < 1<<20 {
		bad("cache-max-bytes", "must be at least 1 MiB, got %d", c.CacheMaxBytes)
	}
	if c.Replicas < 1 {
		bad("replicas", "must be at least 1, got %d", c.Replicas)
	}
	if c.WatchInterval < 100*time.Millisecond {
		bad("watch-interval", "must be at least 100ms, got %s", c.WatchInterval)
	}
	if c.RedisURL != "" {
		// redis.ParseURL's errors can quote the URL, password included.
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			bad("redis-url", "not a redis:// or rediss:// URL (the value is not repeated: it may hold a password)")
		}
	}
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

// allowedAccounts is the account policy: the accounts a request may name
// when the bridge's own credentials are used, and whether an explicit
// --allowed-accounts holds pass-through callers to the list too. The
// default account (--account-id, possibly none) is always allowed: a
// request naming no account uses it.
func (c *Config) allowedAccounts() (accounts []string, forAll bool) {
	accounts = append([]string{c.AccountID}, c.AllowedAccounts...)
	return accounts, len(c.AllowedAccounts) > 0
}

// sortedDetail renders a health detail map as sorted "key: value" lines.
func sortedDetail(m map[string]string) []string {
	lines := make([]string, 0, len(m))
	for k, v := range m {
		lines = append(lines, k+": "+v)
	}
	slices.Sort(lines)
	return lines
}
