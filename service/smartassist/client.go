// Package smartassist is the REST client for the Kore.ai SmartAssist
// conversation API.
//
// It builds the upstream URL from validated ids, authenticates with a
// pass-through JWT or one minted by a TokenSource, retries transient failures
// without outliving the caller's deadline, bounds the response body, and
// turns every failure into an *Error whose Kind says what went wrong. It
// returns the conversation JSON as raw bytes: reading that JSON is another
// package's job.
//
// The fake SmartAssist server for tests lives in the smartassisttest
// subpackage.
package smartassist

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by New for zero Config fields.
const (
	defaultTimeout      = 10 * time.Second
	defaultMaxBodyBytes = 8 << 20
	defaultMaxAttempts  = 3
	defaultBackoffBase  = 100 * time.Millisecond
	defaultBackoffMax   = 2 * time.Second
	defaultUserAgent    = "smartassist-bridge"
)

const (
	// errorBodyLimit is how much of a non-2xx body is read to find
	// {"errors":[...]}; real SmartAssist error bodies are a few hundred bytes.
	errorBodyLimit = 64 << 10
	// drainLimit is how much unread body is discarded before closing it, so
	// that the keep-alive connection can be reused. Beyond that, dropping the
	// connection is cheaper than reading on.
	drainLimit = 64 << 10
)

// conversationPath is the SmartAssist public conversation endpoint below the
// base URL: {streamId} and {conversationId} follow, separated by
// "/conversations/".
const conversationPath = "/agentassist/api/v1/public/"

// Config configures a Client. Only BaseURL is required.
type Config struct {
	// BaseURL is the SmartAssist origin, e.g. "https://smartassist.kore.ai",
	// optionally with a path prefix. The scheme must be http or https; user
	// info, a query and a fragment are rejected.
	BaseURL string
	// HTTPClient sends the requests. When nil, New builds one with
	// connection pooling suited to a single upstream host. The Client uses
	// a shallow copy whose CheckRedirect refuses redirects: following one
	// would send the "auth" header to wherever the redirect points, so a 3xx
	// is returned as a KindStatus error instead.
	HTTPClient *http.Client
	// Timeout caps one GetConversation call including retries; 0 means 10s.
	// A sooner context deadline wins.
	Timeout time.Duration
	// MaxBodyBytes caps a response body; 0 means 8 MiB. A larger 2xx body
	// fails with KindBodyTooLarge.
	MaxBodyBytes int64
	// MaxAttempts is the number of HTTP attempts including the first;
	// 0 means 3, 1 disables retries.
	MaxAttempts int
	// Tokens supplies the JWT when a Request carries no Auth. With neither,
	// GetConversation fails with KindNoCredentials without calling upstream.
	Tokens TokenSource
	// Hooks receives per-attempt observations, e.g. for metrics.
	Hooks Hooks
	// UserAgent is sent as User-Agent; empty means "smartassist-bridge".
	UserAgent string
	// BackoffBase and BackoffMax shape the full-jitter exponential backoff
	// between retries: the n-th retry waits a random duration in
	// [0, min(BackoffMax, BackoffBase·2ⁿ⁻¹)]. Zero means 100ms and 2s. A
	// BackoffMax below BackoffBase is raised to BackoffBase. Tests shrink
	// them to keep retries fast.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// WrapTransport, when set, wraps the HTTP client's transport, e.g. to
	// trace each request and propagate the trace context.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Hooks are optional observability callbacks. They are called synchronously
// on the calling goroutine, so they must be fast and safe for concurrent use.
type Hooks struct {
	// Attempt is called after each HTTP attempt, once its body has been
	// read: status is 0 when no response arrived, err is nil on success and
	// an *Error otherwise.
	Attempt func(status int, elapsed time.Duration, err error)
	// Retry is called before each retry's backoff sleep with the chosen delay.
	Retry func(delay time.Duration)
}

// Request identifies one conversation and carries the inbound call's
// credentials and trace headers.
type Request struct {
	StreamID       string
	ConversationID string
	// AccountID is sent as the "accountId" header; empty sends none.
	AccountID string
	// Auth is the inbound call's JWT, without "Bearer ". When set it is used
	// instead of Config.Tokens.
	Auth string
	// Forward holds headers to copy onto the upstream request. Only
	// X-Request-Id, Traceparent, Tracestate and Baggage are copied, whatever
	// else it holds, and values that are not valid header values are dropped.
	Forward http.Header
}

// forwardable lists the only headers copied from Request.Forward. The caller
// filters too; repeating the list here keeps a mistake there from forwarding
// an inbound Authorization or Cookie header to SmartAssist.
var forwardable = map[string]bool{
	"X-Request-Id": true,
	"Traceparent":  true,
	"Tracestate":   true,
	"Baggage":      true,
}

// Client calls the SmartAssist conversation API. It is safe for concurrent
// use. Call Close when done with it to release idle connections.
type Client struct {
	hc          *http.Client
	baseURL     string // scheme://host[/prefix] without a trailing slash
	timeout     time.Duration
	maxBody     int64
	maxAttempts int
	tokens      TokenSource
	hooks       Hooks
	userAgent   string
	backoffBase time.Duration
	backoffMax  time.Duration
	// jitter returns a random duration in [0, d]; a field so that internal
	// tests can make backoff deterministic.
	jitter func(d time.Duration) time.Duration
}

// New validates cfg and returns a Client. Its errors name the offending
// Config field and never echo credentials embedded in BaseURL.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("smartassist: Timeout must not be negative, got %s", cfg.Timeout)
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("smartassist: MaxBodyBytes must not be negative, got %d", cfg.MaxBodyBytes)
	case cfg.MaxAttempts < 0:
		return nil, fmt.Errorf("smartassist: MaxAttempts must not be negative, got %d", cfg.MaxAttempts)
	case cfg.BackoffBase < 0 || cfg.BackoffMax < 0:
		return nil, errors.New("smartassist: BackoffBase and BackoffMax must not be negative")
	}

	c := &Client{
		baseURL:     base,
		timeout:     orDefault(cfg.Timeout, defaultTimeout),
		maxBody:     orDefault(cfg.MaxBodyBytes, defaultMaxBodyBytes),
		maxAttempts: orDefault(cfg.MaxAttempts, defaultMaxAttempts),
		tokens:      cfg.Tokens,
		hooks:       cfg.Hooks,
		userAgent:   orDefault(cfg.UserAgent, defaultUserAgent),
		backoffBase: orDefault(cfg.BackoffBase, defaultBackoffBase),
		backoffMax:  orDefault(cfg.BackoffMax, defaultBackoffMax),
		jitter:      fullJitter,
	}
	// The body is read through a LimitReader of maxBody+1 bytes.
	c.maxBody = min(c.maxBody, math.MaxInt64-1)
	c.backoffMax = max(c.backoffMax, c.backoffBase)

	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		c.hc = &hc
	} else {
		c.hc = &http.Client{Transport: newTransport()}
	}
	if cfg.WrapTransport != nil {
		rt := c.hc.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		c.hc.Transport = cfg.WrapTransport(rt)
	}
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// newTransport returns a transport tuned for many concurrent calls to one
// host. Dial and TLS handshake get their own short timeouts so that an
// unreachable upstream fails fast enough to leave time for a retry; the
// response itself is bounded by the request context only, because a fixed
// ResponseHeaderTimeout could not know the caller's deadline.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 0
	t.ForceAttemptHTTP2 = true
	return t
}

// Close releases the Client's idle connections. Requests in flight are not
// interrupted; the Client stays usable.
func (c *Client) Close() {
	c.hc.CloseIdleConnections()
}

// GetConversation fetches one conversation and returns the raw JSON body of
// SmartAssist's 2xx answer. Every failure is an *Error.
//
// Transport failures and 429, 502, 503 and 504 answers are retried up to
// Config.MaxAttempts times with full-jitter exponential backoff; for 429 and
// 503 a longer Retry-After is honoured. A retry whose wait would end after
// the deadline is not attempted: the last error is returned as it is.
func (c *Client) GetConversation(ctx context.Context, req Request) ([]byte, error) {
	if err := req.validate(); err != nil {
		return nil, &Error{Kind: KindInvalidRequest, Err: err}
	}
	if req.Auth == "" && c.tokens == nil {
		return nil, &Error{Kind: KindNoCredentials, Err: errors.New("no pass-through token and no token source")}
	}
	target := c.baseURL + conversationPath + url.PathEscape(req.StreamID) +
		"/conversations/" + url.PathEscape(req.ConversationID)

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, contextError(parent, err, attempt-1)
		}
		body, e := c.attempt(parent, ctx, target, req, attempt)
		if e == nil {
			return body, nil
		}
		if attempt >= c.maxAttempts || !retryable(e) {
			return nil, e
		}
		delay := c.backoff(attempt)
		if e.HTTPStatus == http.StatusTooManyRequests || e.HTTPStatus == http.StatusServiceUnavailable {
			delay = max(delay, e.RetryAfter)
		}
		// Waiting past the deadline would only turn an informative error
		// (a 429 with its Retry-After) into a bare timeout.
		if deadline, _ := ctx.Deadline(); time.Now().Add(delay).After(deadline) {
			return nil, e
		}
		if c.hooks.Retry != nil {
			c.hooks.Retry(delay)
		}
		if err := sleep(ctx, delay); err != nil {
			last := e.Kind.String()
			if e.HTTPStatus != 0 {
				last = fmt.Sprintf("HTTP %d", e.HTTPStatus)
			}
			return nil, contextError(parent, fmt.Errorf("waiting %s to retry after %s: %w", delay, last, err), attempt)
		}
	}
}

// attempt makes HTTP attempt number n. The token is fetched per attempt so
// that a source minting single-use tokens (jti) works with retries.
func (c *Client) attempt(parent, ctx context.Context, target string, req Request, n int) ([]byte, *Error) {
	auth := req.Auth
	if auth == "" {
		tok, err := c.tokens.Token(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, contextError(parent, fmt.Errorf("get token: %w", err), n-1)
		case err != nil:
			return nil, &Error{Kind: KindNoCredentials, Attempts: n - 1, Err: fmt.Errorf("get token: %w", err)}
		case tok == "" || !validHeaderValue(tok):
			return nil, &Error{Kind: KindNoCredentials, Attempts: n - 1, Err: errors.New("token source returned an empty or malformed token")}
		}
		auth = tok
	}

	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		// Unreachable with a validated base URL and ids; kept as a guard.
		return nil, &Error{Kind: KindInvalidRequest, Attempts: n - 1, Err: fmt.Errorf("build request: %w", err)}
	}
	hreq.Header = c.header(auth, req)

	start := time.Now()
	resp, err := c.hc.Do(hreq)
	if err != nil {
		e := &Error{Kind: KindTransport, Err: err}
		if ctx.Err() != nil {
			e = contextError(parent, err, 0)
		}
		e.Attempts = n
		c.observe(0, time.Since(start), e)
		return nil, e
	}
	body, e := c.read(parent, ctx, resp, auth)
	if e != nil {
		e.Attempts = n
	}
	c.observe(resp.StatusCode, time.Since(start), e)
	return body, e
}

// header builds the upstream request headers. "auth" and "accountId" are
// set with the documented spelling rather than Go's canonical
// "Auth"/"Accountid": HTTP/1.1 names are case-insensitive, but sending the
// documented form costs nothing and spares us any case-sensitive
// intermediary. (HTTP/2 lower-cases them on the wire regardless.)
func (c *Client) header(auth string, req Request) http.Header {
	h := make(http.Header, 4+len(forwardable))
	h["auth"] = []string{auth}
	if req.AccountID != "" {
		h["accountId"] = []string{req.AccountID}
	}
	h.Set("Accept", "application/json")
	h.Set("User-Agent", c.userAgent)
	for name, values := range req.Forward {
		name = http.CanonicalHeaderKey(name)
		if !forwardable[name] {
			continue
		}
		for _, v := range values {
			if validHeaderValue(v) {
				h[name] = append(h[name], v)
			}
		}
	}
	return h
}

// read consumes resp, always leaving its body drained (within drainLimit)
// and closed so the connection can be reused.
func (c *Client) read(parent, ctx context.Context, resp *http.Response, auth string) ([]byte, *Error) {
	defer drainAndClose(resp.Body)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Kind: KindStatus, HTTPStatus: resp.StatusCode}
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
		// A read error here only costs us the upstream message; the status
		// already says what happened.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, min(errorBodyLimit, c.maxBody)))
		code, msg := parseUpstreamError(b)
		// An upstream that echoes the offending token in msg must not leak
		// it into our logs; redact before truncating so that no fragment
		// survives the cut.
		e.UpstreamCode = truncateRunes(redact(code, auth), maxUpstreamCodeRunes)
		e.UpstreamMsg = truncateRunes(redact(msg, auth), maxUpstreamMsgRunes)
		return nil, e
	}

	if resp.ContentLength > c.maxBody {
		return nil, &Error{Kind: KindBodyTooLarge, HTTPStatus: resp.StatusCode,
			Err: fmt.Errorf("Content-Length %d exceeds the %d-byte limit", resp.ContentLength, c.maxBody)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		err = fmt.Errorf("read body: %w", err)
		var e *Error
		if ctx.Err() != nil {
			e = contextError(parent, err, 0)
		} else {
			e = &Error{Kind: KindBadBody, Err: err}
		}
		e.HTTPStatus = resp.StatusCode
		return nil, e
	}
	if int64(len(b)) > c.maxBody {
		return nil, &Error{Kind: KindBodyTooLarge, HTTPStatus: resp.StatusCode,
			Err: fmt.Errorf("body exceeds the %d-byte limit", c.maxBody)}
	}
	return b, nil
}

// observe reports an attempt to Hooks.Attempt, taking care to pass a nil
// error interface rather than a nil *Error on success.
func (c *Client) observe(status int, elapsed time.Duration, e *Error) {
	if c.hooks.Attempt == nil {
		return
	}
	if e == nil {
		c.hooks.Attempt(status, elapsed, nil)
		return
	}
	c.hooks.Attempt(status, elapsed, e)
}

// backoff returns the full-jitter delay before retry number n (n >= 1):
// a random duration in [0, min(backoffMax, backoffBase·2ⁿ⁻¹)].
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.backoffBase
	for i := 1; i < n; i++ {
		if ceiling >= c.backoffMax/2 {
			ceiling = c.backoffMax
			break
		}
		ceiling *= 2
	}
	return c.jitter(min(ceiling, c.backoffMax))
}

// fullJitter returns a uniformly random duration in [0, d].
func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// retryable reports whether another attempt could succeed where e failed.
// 500 is not retried: it reports a fault in handling this very request,
// which a retry tends to repeat, whereas 502/503/504 and 429 describe a
// transient gateway, capacity or rate problem.
func retryable(e *Error) bool {
	switch e.Kind {
	case KindTransport:
		return !permanentTransportError(e.Err)
	case KindStatus:
		switch e.HTTPStatus {
		case http.StatusTooManyRequests, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}

// permanentTransportError reports transport failures that a retry cannot
// fix: an untrusted certificate, TLS spoken to a plain-text port, a host
// name that does not exist.
func permanentTransportError(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return true
	}
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok && dnsErr.IsNotFound {
		return true
	}
	return false
}

// contextError classifies a failure caused by the end of the call's context:
// KindCanceled when the caller canceled, KindTimeout when either the caller's
// deadline or Config.Timeout expired. The cause is made to match
// context.Canceled or context.DeadlineExceeded under errors.Is whatever the
// layer that noticed it wrapped it in.
func contextError(parent context.Context, cause error, attempts int) *Error {
	kind, sentinel := KindTimeout, context.DeadlineExceeded
	if errors.Is(parent.Err(), context.Canceled) {
		kind, sentinel = KindCanceled, context.Canceled
	}
	if !errors.Is(cause, sentinel) {
		cause = fmt.Errorf("%w: %w", sentinel, cause)
	}
	return &Error{Kind: kind, Attempts: attempts, Err: cause}
}

// sleep waits for d or until ctx is done, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// drainAndClose discards up to drainLimit bytes of body and closes it.
func drainAndClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	_ = body.Close()
}

// validate checks everything about r that can be checked without a call.
func (r Request) validate() error {
	if err := ValidateID("stream_id", r.StreamID); err != nil {
		return err
	}
	if err := ValidateID("conversation_id", r.ConversationID); err != nil {
		return err
	}
	if r.AccountID != "" {
		if err := ValidateID("account_id", r.AccountID); err != nil {
			return err
		}
	}
	// Never echo the value: it is a credential.
	if r.Auth != "" && !validHeaderValue(r.Auth) {
		return errors.New("auth: contains characters not allowed in an HTTP header")
	}
	return nil
}

// validHeaderValue reports whether v may be sent as a header value: no
// control characters other than horizontal tab (RFC 9110 §5.5). Go's
// transport would refuse the whole request otherwise, and a CR/LF must never
// reach the wire.
func validHeaderValue(v string) bool {
	for i := range len(v) {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// redact replaces every occurrence of secret in s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[REDACTED]")
}

// parseBaseURL validates a Config.BaseURL and returns it without a trailing
// slash. Errors never echo the raw value, which may hold a password.
func parseBaseURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("smartassist: BaseURL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the whole input; keep only the reason.
		if urlErr, ok := errors.AsType[*url.Error](err); ok {
			err = urlErr.Err
		}
		return "", fmt.Errorf("smartassist: BaseURL is not a valid URL: %w", err)
	}
	switch {
	case u.User != nil:
		return "", errors.New("smartassist: BaseURL must not contain user info; credentials go in Config.Tokens")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("smartassist: BaseURL %q: scheme must be http or https", u.Redacted())
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("smartassist: BaseURL %q: host required", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery:
		return "", fmt.Errorf("smartassist: BaseURL %q: must not have a query", u.Redacted())
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", fmt.Errorf("smartassist: BaseURL %q: must not have a fragment", u.Redacted())
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
