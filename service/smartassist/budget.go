package smartassist

import (
	"context"
	"errors"
	"time"
)

// Budget guards SmartAssist's per-account request quota. The Client calls
// Acquire before every HTTP attempt (retries included) and Backoff after
// every 429. Implementations must be safe for concurrent use.
type Budget interface {
	// Acquire returns when a request for account may be sent, or an error:
	// the context's, or one that has a method RetryDelay() time.Duration
	// when the budget cannot give a slot before ctx's deadline.
	Acquire(ctx context.Context, account string) error
	// Backoff tells the budget that SmartAssist answered 429 for account; it
	// should send nothing more for that account for retryAfter.
	Backoff(account string, retryAfter time.Duration)
}

// defaultQuotaBackoff is the back-off reported to Budget.Backoff for a 429
// without a usable Retry-After. SmartAssist's quota is per minute (60
// requests per account); a second is short enough not to idle the account
// for long and long enough not to hammer it.
const defaultQuotaBackoff = time.Second

// retryDelayer is the error a Budget returns when it cannot give a slot in
// time.
type retryDelayer interface {
	error
	RetryDelay() time.Duration
}

// budgetError classifies a failed Budget.Acquire made under ctx, the call's
// context (a child of the caller's parent). An error announcing a retry
// delay is KindQuotaExhausted with that delay; the end of the context is
// KindTimeout or KindCanceled as everywhere else; any other failure of the
// budget is KindQuotaExhausted without a delay, because the budget did not
// clear the request and sending it could overrun the account's quota.
func budgetError(parent, ctx context.Context, err error, attempts int) *Error {
	if rd, ok := errors.AsType[retryDelayer](err); ok {
		return &Error{Kind: KindQuotaExhausted, RetryAfter: max(rd.RetryDelay(), 0), Attempts: attempts, Err: err}
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return contextError(parent, err, attempts)
	}
	return &Error{Kind: KindQuotaExhausted, Attempts: attempts, Err: err}
}
