// Package smartassist is the REST client for the Kore.ai SmartAssist
// conversation API.
//
// It builds the upstream URL from validated ids, authenticates with a
// pass-through JWT or one minted by a TokenSource, retries transient failures
// without outliving the caller's deadline, bounds the response body, and
// turns every failure into an *Error whose Kind says what went wrong. It
// returns SmartAssist's JSON as raw bytes: reading that JSON is another
// package's job.
//
// Two endpoints share one request path (authentication, quota budget,
// retries, error classification): GetConversation and ListConversations.
//
// Behaviour worth knowing when operating it:
//
//   - Every call is bounded by Config.Timeout (default 10s) and every HTTP
//     attempt by Config.AttemptTimeout (default 6s), so an attempt that
//     hangs leaves time for a retry while a slow answer still arrives.
//   - Connection errors, a 2xx body cut off mid-way, an attempt timeout, and
//     the statuses 408, 429, 502, 503 and 504 are retried with full-jitter
//     exponential backoff (a longer Retry-After is honoured for 429 and 503),
//     never past the deadline.
//   - A 401 answer to a minted token drops that token from the source's cache
//     (see Invalidator) and tries once more with a fresh one, even when
//     Config.MaxAttempts is 1.
//   - With a Config.Budget, every attempt first asks the budget for a slot of
//     the account's quota; a 429 makes the whole account back off.
//   - The connection pool keeps up to 512 idle connections to the upstream,
//     so a few hundred concurrent calls reuse connections instead of opening
//     (and, over TLS, handshaking) a new one per call.
//
// The fake SmartAssist server for tests lives in the smartassisttest
// subpackage.
package smartassist

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults applied by New for zero Config fields.
const (
	defaultTimeout        = 10 * time.Second
	defaultAttemptTimeout = 6 * time.Second
	defaultMaxBodyBytes   = 8 << 20
	defaultMaxAttempts    = 3
	defaultBackoffBase    = 100 * time.Millisecond
	defaultBackoffMax     = 2 * time.Second
	defaultUserAgent      = "smartassist-bridge"
	// defaultIdleConns is the idle pool of the transport New builds. It must
	// exceed the number of concurrent upstream calls: a connection finishing
	// its request while the pool is full is closed, and the next call dials
	// (and, over TLS, handshakes) again. 64 idle connections churned 7,496
	// connections in 10 s at 256 concurrent calls (issue 10); 512 leaves
	// headroom above the bridge's expected concurrency.
	defaultIdleConns = 512
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

// publicPath is the prefix of SmartAssist's public conversation endpoints
// below the base URL: {streamId}/conversations[/{conversationId}] follows.
const publicPath = "/agentassist/api/v1/public/"

// errAttemptTimeout marks an attempt cut short by Config.AttemptTimeout
// while the call's own deadline still had time: such an attempt is retried.
var errAttemptTimeout = errors.New("upstream attempt timed out")

// Config configures a Client. Only BaseURL is required.
type Config struct {
	// BaseURL is the SmartAssist origin, e.g. "https://smartassist.kore.ai",
	// optionally with a path prefix. The scheme must be http or https; user
	// info, a query and a fragment are rejected.
	BaseURL string
	// HTTPClient sends the requests. When nil, New builds one with
	// connection pooling suited to a single upstream host (up to 512 idle
	// connections). The Client uses a shallow copy whose CheckRedirect
	// refuses redirects: following one would send the "auth" header to
	// wherever the redirect points, so a 3xx is returned as a KindStatus
	// error instead.
	HTTPClient *http.Client
	// Timeout caps one call including retries; 0 means 10s. A sooner
	// context deadline wins.
	Timeout time.Duration
	// AttemptTimeout caps one HTTP attempt, from sending the request to
	// reading the last byte of the body; 0 means 4s, and a value above
	// Timeout is lowered to Timeout. An attempt that runs out of it is
	// retried like a connection error, so a hung first attempt leaves time
	// for a second one within Timeout.
	AttemptTimeout time.Duration
	// MaxBodyBytes caps a response body; 0 means 8 MiB. A larger 2xx body
	// fails with KindBodyTooLarge.
	MaxBodyBytes int64
	// MaxAttempts is the number of HTTP attempts including the first;
	// 0 means 3, 1 disables retries. The one re-authentication attempt after
	// a 401 to a minted token comes on top.
	MaxAttempts int
	// Tokens supplies the JWT when a request carries no Auth. With neither,
	// a call fails with KindNoCredentials without calling upstream.
	Tokens TokenSource
	// Budget, when set, guards SmartAssist's per-account request quota:
	// every HTTP attempt waits for its slot, and every 429 is reported to it.
	// nil sends without asking.
	Budget Budget
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
	// AccountID is sent as the "accountId" header; empty sends none. It is
	// also the key under which Config.Budget counts the request.
	AccountID string
	// Auth is the inbound call's JWT, without "Bearer ". When set it is used
	// instead of Config.Tokens.
	Auth string
	// Forward holds headers to copy onto the upstream request. Only
	// X-Request-Id, Traceparent, Tracestate and Baggage are copied, whatever
	// else it holds, and values that are not valid header values are dropped.
	Forward http.Header
	// QuotaWaitUntil, when set, is how long the call may wait for a slot of
	// Config.Budget, if sooner than ctx's deadline. A fetch shared by
	// several callers runs on a context that outlives the first caller;
	// the first caller's deadline still decides whether its slot is worth
	// waiting for, so a hopeless wait is refused at once with a RetryAfter.
	QuotaWaitUntil time.Time
}

// ForwardedHeaders are the only inbound headers (besides credentials,
// which travel separately) that reach SmartAssist: request correlation and
// trace context. The handlers copy these, the CORS policy allows them, and
// the Client enforces the list again, so that a mistake upstream of it
// cannot forward an Authorization or Cookie header.
var ForwardedHeaders = []string{"X-Request-Id", "Traceparent", "Tracestate", "Baggage"}

// Client calls the SmartAssist conversation API. It is safe for concurrent
// use. Call Close when done with it to release idle connections.
type Client struct {
	hc             *http.Client
	baseURL        string // scheme://host[/prefix] without a trailing slash
	timeout        time.Duration
	attemptTimeout time.Duration
	maxBody        int64
	maxAttempts    int
	tokens         TokenSource
	budget         Budget
	hooks          Hooks
	userAgent      string
	backoffBase    time.Duration
	backoffMax     time.Duration
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
	case cfg.AttemptTimeout < 0:
		return nil, fmt.Errorf("smartassist: AttemptTimeout must not be negative, got %s", cfg.AttemptTimeout)
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("smartassist: MaxBodyBytes must not be negative, got %d", cfg.MaxBodyBytes)
	case cfg.MaxAttempts < 0:
		return nil, fmt.Errorf("smartassist: MaxAttempts must not be negative, got %d", cfg.MaxAttempts)
	case cfg.BackoffBase < 0 || cfg.BackoffMax < 0:
		return nil, errors.New("smartassist: BackoffBase and BackoffMax must not be negative")
	}

	c := &Client{
		baseURL:        base,
		timeout:        orDefault(cfg.Timeout, defaultTimeout),
		attemptTimeout: orDefault(cfg.AttemptTimeout, defaultAttemptTimeout),
		maxBody:        orDefault(cfg.MaxBodyBytes, defaultMaxBodyBytes),
		maxAttempts:    orDefault(cfg.MaxAttempts, defaultMaxAttempts),
		tokens:         cfg.Tokens,
		budget:         cfg.Budget,
		hooks:          cfg.Hooks,
		userAgent:      orDefault(cfg.UserAgent, defaultUserAgent),
		backoffBase:    orDefault(cfg.BackoffBase, defaultBackoffBase),
		backoffMax:     orDefault(cfg.BackoffMax, defaultBackoffMax),
		jitter:         fullJitter,
	}
	// The body is read through a LimitReader of maxBody+1 bytes.
	c.maxBody = min(c.maxBody, math.MaxInt64-1)
	c.backoffMax = max(c.backoffMax, c.backoffBase)
	c.attemptTimeout = min(c.attemptTimeout, c.timeout)

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
// response itself is bounded by the attempt's context, because a fixed
// ResponseHeaderTimeout could not know the caller's deadline. The idle pool
// (defaultIdleConns) is what keeps concurrent calls from churning
// connections; MaxConnsPerHost stays unlimited so that a burst queues on
// SmartAssist rather than inside the bridge, where it would eat the callers'
// deadlines unseen.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConns = defaultIdleConns
	t.MaxIdleConnsPerHost = defaultIdleConns
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
// Transport failures, attempt timeouts, cut-off bodies and 408, 429, 502,
// 503 and 504 answers are retried up to Config.MaxAttempts times with
// full-jitter exponential backoff; for 429 and 503 a longer Retry-After is
// honoured. A retry whose wait would end after the deadline is not
// attempted: the last error is returned as it is.
func (c *Client) GetConversation(ctx context.Context, req Request) ([]byte, error) {
	const op = "get conversation"
	if err := req.validate(); err != nil {
		return nil, &Error{Op: op, Kind: KindInvalidRequest, Err: err}
	}
	return c.do(ctx, call{
		op: op,
		target: c.baseURL + publicPath + url.PathEscape(req.StreamID) +
			"/conversations/" + url.PathEscape(req.ConversationID),
		account:   req.AccountID,
		auth:      req.Auth,
		forward:   req.Forward,
		waitUntil: req.QuotaWaitUntil,
	})
}

// call is one validated upstream GET: everything do needs, whichever
// endpoint it is for.
type call struct {
	op      string // names the operation in errors
	target  string // the full URL, query included
	account string
	auth    string // the pass-through token; "" asks Config.Tokens
	forward http.Header
	// waitUntil bounds the wait for the first quota slot; zero: ctx's
	// deadline alone.
	waitUntil time.Time
}

// do runs c with retries and returns the 2xx body, or an *Error naming
// c.op. It is the only path to the network.
func (c *Client) do(ctx context.Context, cl call) ([]byte, error) {
	body, e := c.run(ctx, cl)
	if e != nil {
		e.Op = cl.op
		return nil, e
	}
	return body, nil
}

func (c *Client) run(parent context.Context, cl call) ([]byte, *Error) {
	if cl.auth == "" && c.tokens == nil {
		return nil, &Error{Kind: KindNoCredentials, Err: errors.New("no pass-through token and no token source")}
	}
	// Waiting for the account's first quota slot is not SmartAssist's
	// time: it is bounded by the caller's deadline alone, so a call with a
	// generous deadline waits its turn instead of failing. Config.Timeout
	// caps what follows: the attempts, their retries and backoff (a
	// retry's own quota wait included).
	if c.budget != nil {
		actx := parent
		if !cl.waitUntil.IsZero() {
			var cancel context.CancelFunc
			actx, cancel = context.WithDeadline(parent, cl.waitUntil)
			defer cancel()
		}
		if err := c.budget.Acquire(actx, cl.account); err != nil {
			return nil, budgetError(parent, actx, err, 0)
		}
	}
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()

	limit, reauthenticated := c.maxAttempts, false
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, contextError(parent, err, attempt-1)
		}
		body, minted, e := c.attempt(parent, ctx, cl, attempt)
		if e == nil {
			return body, nil
		}
		if e.Kind == KindStatus && e.HTTPStatus == http.StatusTooManyRequests && c.budget != nil {
			c.budget.Backoff(cl.account, orDefault(e.RetryAfter, defaultQuotaBackoff))
		}
		// A 401 to a token we minted usually means SmartAssist no longer
		// accepts a token we still cache (the secret was rotated, the app
		// re-created, our clock is off): drop it and try once with a fresh
		// one, without backoff and outside the attempt budget. A pass-through
		// token is the caller's to fix.
		if e.Kind == KindStatus && e.HTTPStatus == http.StatusUnauthorized && minted != "" && !reauthenticated {
			if inv, ok := c.tokens.(Invalidator); ok {
				inv.Invalidate(minted)
				reauthenticated = true
				limit++
				continue
			}
		}
		if attempt >= limit || !retryable(e) {
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

// attempt makes HTTP attempt number n and returns the body, or an error. The
// budget is asked first for every retry (run asks for the first attempt),
// then the token is fetched, per attempt, so
// that a source minting single-use tokens (jti) works with retries. minted
// is the token when it came from Config.Tokens.
func (c *Client) attempt(parent, ctx context.Context, cl call, n int) (body []byte, minted string, e *Error) {
	if c.budget != nil && n > 1 { // run took the first attempt's slot
		if err := c.budget.Acquire(ctx, cl.account); err != nil {
			return nil, "", budgetError(parent, ctx, err, n-1)
		}
	}
	auth := cl.auth
	if auth == "" {
		tok, err := c.tokens.Token(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, "", contextError(parent, fmt.Errorf("get token: %w", err), n-1)
		case err != nil:
			return nil, "", &Error{Kind: KindTokenSource, Attempts: n - 1, Err: fmt.Errorf("get token: %w", err)}
		case tok == "" || !validHeaderValue(tok):
			return nil, "", &Error{Kind: KindTokenSource, Attempts: n - 1, Err: errors.New("token source returned an empty or malformed token")}
		}
		auth, minted = tok, tok
	}

	actx, cancel := context.WithTimeoutCause(ctx, c.attemptTimeout, errAttemptTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(actx, http.MethodGet, cl.target, nil)
	if err != nil {
		// Unreachable with a validated base URL and ids; kept as a guard.
		return nil, minted, &Error{Kind: KindInvalidRequest, Attempts: n - 1, Err: fmt.Errorf("build request: %w", err)}
	}
	hreq.Header = c.header(auth, cl)

	start := time.Now()
	resp, err := c.hc.Do(hreq)
	if err != nil {
		e := interrupted(parent, ctx, actx, err, KindTransport)
		e.Attempts = n
		c.observe(0, time.Since(start), e)
		return nil, minted, e
	}
	body, e = c.read(parent, ctx, actx, resp, auth)
	if e != nil {
		e.Attempts = n
	}
	c.observe(resp.StatusCode, time.Since(start), e)
	return body, minted, e
}

// interrupted classifies err, the failure of an attempt running under actx,
// a child of the call's ctx: the end of the call (timeout or cancel) wins,
// then the end of the attempt alone (a retryable KindTimeout), and otherwise
// the failure is of kind k.
func interrupted(parent, ctx, actx context.Context, err error, k Kind) *Error {
	switch {
	case ctx.Err() != nil:
		return contextError(parent, err, 0)
	case actx.Err() != nil && errors.Is(context.Cause(actx), errAttemptTimeout):
		return &Error{Kind: KindTimeout, Err: fmt.Errorf("%w: %w: %w", context.DeadlineExceeded, errAttemptTimeout, err)}
	}
	return &Error{Kind: k, Err: err}
}

// header builds the upstream request headers. "auth" and "accountId" are
// set with the documented spelling rather than Go's canonical
// "Auth"/"Accountid": HTTP/1.1 names are case-insensitive, but sending the
// documented form costs nothing and spares us any case-sensitive
// intermediary. (HTTP/2 lower-cases them on the wire regardless.)
func (c *Client) header(auth string, cl call) http.Header {
	h := make(http.Header, 4+len(ForwardedHeaders))
	h["auth"] = []string{auth}
	if cl.account != "" {
		h["accountId"] = []string{cl.account}
	}
	h.Set("Accept", "application/json")
	h.Set("User-Agent", c.userAgent)
	for name, values := range cl.forward {
		name = http.CanonicalHeaderKey(name)
		if !slices.Contains(ForwardedHeaders, name) {
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
func (c *Client) read(parent, ctx, actx context.Context, resp *http.Response, auth string) ([]byte, *Error) {
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
		// A body that stops short (io.ErrUnexpectedEOF against its
		// Content-Length or chunking, a reset) is a connection that failed
		// mid-answer: as transient as one that failed before it, so retried.
		// Only a body that arrived but cannot be decoded is KindBadBody.
		kind := KindTransport
		if corruptEncoding(err) {
			kind = KindBadBody
		}
		e := interrupted(parent, ctx, actx, fmt.Errorf("read body: %w", err), kind)
		e.HTTPStatus = resp.StatusCode
		return nil, e
	}
	if int64(len(b)) > c.maxBody {
		return nil, &Error{Kind: KindBodyTooLarge, HTTPStatus: resp.StatusCode,
			Err: fmt.Errorf("body exceeds the %d-byte limit", c.maxBody)}
	}
	return b, nil
}

// corruptEncoding reports a body read error caused by the bytes rather than
// the connection: a compressed body that does not decompress.
func corruptEncoding(err error) bool {
	if _, ok := errors.AsType[flate.CorruptInputError](err); ok {
		return true
	}
	return errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader)
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
