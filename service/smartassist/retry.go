package smartassist

import (
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

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
// which a retry tends to repeat, whereas 408 (the server gave up waiting
// for our request, RFC 9110 §15.5.9) and 502/503/504 and 429 describe a
// transient connection, gateway, capacity or rate problem. An attempt that
// ran out of Config.AttemptTimeout is retried; the end of the call's own
// deadline never is.
func retryable(e *Error) bool {
	switch e.Kind {
	case KindTransport:
		return !permanentTransportError(e.Err)
	case KindTimeout:
		return errors.Is(e.Err, errAttemptTimeout)
	case KindStatus:
		switch e.HTTPStatus {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway,
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
