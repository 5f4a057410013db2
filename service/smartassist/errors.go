package smartassist

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind classifies a failed call so that callers can choose a
// response (a Connect code, a metric label) without inspecting causes.
type Kind int

// The zero Kind is deliberately unused so that an Error built by mistake
// without a Kind is visible as "unknown" rather than posing as KindStatus.
const (
	_ Kind = iota
	// KindStatus: SmartAssist answered with a non-2xx status (see HTTPStatus).
	KindStatus
	// KindTransport: no complete answer arrived (connection refused or
	// reset, DNS failure, TLS failure, connection closed before the response
	// or, with HTTPStatus set, in the middle of a 2xx body).
	KindTransport
	// KindTimeout: the caller's deadline or Config.Timeout expired, or the
	// last attempt ran out of Config.AttemptTimeout.
	KindTimeout
	// KindCanceled: the caller canceled the context.
	KindCanceled
	// KindBodyTooLarge: a 2xx body was larger than Config.MaxBodyBytes.
	KindBodyTooLarge
	// KindBadBody: a 2xx body arrived but could not be decoded (a corrupt
	// compressed encoding). A body cut off by the connection is
	// KindTransport.
	KindBadBody
	// KindNoCredentials: there was neither a pass-through token nor a token
	// source: the caller sent no credentials to a bridge that lends none.
	KindNoCredentials
	// KindInvalidRequest: an id, a list parameter or the pass-through token
	// is unusable; no call was made.
	KindInvalidRequest
	// KindTokenSource: Config.Tokens failed or returned an unusable token.
	// The server's fault (a missing or bad secret), not the caller's.
	KindTokenSource
	// KindQuotaExhausted: Config.Budget had no slot for the account before
	// the deadline; nothing was sent. RetryAfter says when one frees up.
	KindQuotaExhausted
)

// String returns a short, stable, lower-case name suitable for logs and
// metric labels.
func (k Kind) String() string {
	switch k {
	case KindStatus:
		return "status"
	case KindTransport:
		return "transport"
	case KindTimeout:
		return "timeout"
	case KindCanceled:
		return "canceled"
	case KindBodyTooLarge:
		return "body too large"
	case KindBadBody:
		return "bad body"
	case KindNoCredentials:
		return "no credentials"
	case KindInvalidRequest:
		return "invalid request"
	case KindTokenSource:
		return "token source"
	case KindQuotaExhausted:
		return "quota exhausted"
	default:
		return "unknown"
	}
}

// Error is the only error type the Client's calls return. Its message is
// meant for logs: it never contains a token, a secret or an upstream body,
// only the extracted and truncated upstream message.
type Error struct {
	// Op names the operation: "get conversation" or "list conversations".
	Op   string
	Kind Kind
	// HTTPStatus is the upstream status code when SmartAssist answered.
	HTTPStatus int
	// UpstreamCode is errors[0].code of a SmartAssist error body; a numeric
	// code is rendered in decimal.
	UpstreamCode string
	// UpstreamMsg is errors[0].msg of a SmartAssist error body, truncated to
	// 200 runes, with the request's token redacted.
	UpstreamMsg string
	// RetryAfter is the delay the Retry-After header asked for, when present,
	// or for KindQuotaExhausted the wait the Budget announced.
	RetryAfter time.Duration
	// Attempts is the number of HTTP requests made, including the first.
	Attempts int
	// Err is the underlying cause, if any.
	Err error
}

// Error renders the operation, kind, status, upstream code and message,
// attempts and cause on one line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("smartassist: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	}
	if e.UpstreamCode != "" {
		fmt.Fprintf(&b, ", upstream code %q", e.UpstreamCode)
	}
	if e.UpstreamMsg != "" {
		// %q keeps control characters from forging log lines.
		fmt.Fprintf(&b, ", upstream msg %q", e.UpstreamMsg)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	fmt.Fprintf(&b, " (attempts: %d)", e.Attempts)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause, so errors.Is(err, context.DeadlineExceeded) holds
// for KindTimeout and errors.Is(err, context.Canceled) for KindCanceled.
func (e *Error) Unwrap() error { return e.Err }

// Bounds on the upstream text copied into an Error. A code is a short
// identifier in practice; the cap only guards against a misbehaving upstream.
const (
	maxUpstreamMsgRunes  = 200
	maxUpstreamCodeRunes = 64
)

// parseUpstreamError extracts the code and message of the first non-empty
// entry of a SmartAssist error body, {"errors":[{"msg":"...","code":...}]}.
// SmartAssist sends code as a string ("401") from some endpoints and as a
// number (401) from others, so both are accepted. Anything else yields empty
// strings: the HTTP status alone still classifies the error. The results are
// not truncated, so that the caller can redact before cutting.
func parseUpstreamError(body []byte) (code, msg string) {
	var doc struct {
		Errors []struct {
			Msg  json.RawMessage `json:"msg"`
			Code json.RawMessage `json:"code"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", ""
	}
	for _, e := range doc.Errors {
		code, msg = jsonScalar(e.Code), jsonScalar(e.Msg)
		if code != "" || msg != "" {
			return code, msg
		}
	}
	return "", ""
}

// jsonScalar renders a JSON string or number as text; other values (null,
// objects, arrays, booleans) render as "". Numbers are rendered in plain
// decimal, so 4.04e2 becomes "404".
func jsonScalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil && !math.IsInf(f, 0) {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
	}
	return ""
}

// truncateRunes returns s as valid UTF-8 cut to at most n runes.
func truncateRunes(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return s[:runePrefix(s, n)]
}

// runePrefix is the length in bytes of the first n runes of s (n at most
// its rune count); an invalid byte counts as one rune.
func runePrefix(s string, n int) int {
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return i
}

// maxRetryAfter caps a parsed Retry-After. Larger values are as good as
// "never" for a request bounded by seconds, and the cap avoids overflowing
// time.Duration on absurd inputs.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header value (RFC 9110 §10.2.3):
// either delta-seconds or an HTTP-date. ok is false when the value is absent
// or malformed. A date in the past yields 0.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			// All digits but too large for uint64 still means "a long time".
			if numErr, isNum := err.(*strconv.NumError); isNum && numErr.Err == strconv.ErrRange {
				return maxRetryAfter, true
			}
			return 0, false
		}
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}
