package callerauth

import (
	"context"
	"errors"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connectproto"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

// ErrorDomain and ErrorReason are the google.rpc.ErrorInfo attached to
// every refusal, for clients to branch on.
const (
	ErrorDomain = "smartassist-bridge"
	ErrorReason = "CALLER_UNAUTHENTICATED"
)

type callerKey struct{}

// CallerFromContext returns the caller the interceptor authenticated for
// this RPC; false for a public procedure or outside the interceptor.
func CallerFromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Interceptor returns a server interceptor that admits an RPC only with a
// valid caller token, before the handler (and so before anything is sent
// upstream). Procedures for which public returns true (health, reflection)
// need no token; public may be nil.
//
// A refusal is UNAUTHENTICATED with a google.rpc.ErrorInfo and a
// WWW-Authenticate response header as RFC 6750 section 3 describes: with
// error="invalid_token" (or "invalid_request") only when the caller
// presented a Bearer credential.
func (v *Verifier) Interceptor(public func(procedure string) bool) connect.ServerInterceptor {
	return func(next connect.ServerFunc) connect.ServerFunc {
		return func(ctx context.Context, spec connect.Spec, stream connect.ServerStream) error {
			if public != nil && public(spec.Procedure) {
				return next(ctx, spec, stream)
			}
			info, ok := connect.CallInfoForServerContext(ctx)
			if !ok {
				return refuse(nil, ErrNoToken)
			}
			var (
				caller Caller
				err    error
			)
			switch values := info.RequestHeader().Values("Authorization"); len(values) {
			case 0:
				err = ErrNoToken
			case 1:
				caller, err = v.Verify(values[0])
			default:
				// Two credentials are ambiguous: which one would we log?
				err = ErrMalformedHeader
			}
			if err != nil {
				return refuse(info, err)
			}
			return next(context.WithValue(ctx, callerKey{}, caller), spec, stream)
		}
	}
}

// refuse builds the UNAUTHENTICATED error and sets WWW-Authenticate. The
// message is the reason's fixed text, never the token.
func refuse(info *connect.CallInfo, err error) error {
	// Verify's errors carry their reason; bearerToken's are the reason.
	reason := err
	if r, ok := errors.AsType[*refusal](err); ok {
		reason = r.reason
	}
	if info != nil {
		challenge := "Bearer"
		switch reason {
		case ErrNoToken:
		case ErrMalformedHeader:
			challenge = `Bearer error="invalid_request", error_description="` + reason.Error() + `"`
		default:
			challenge = `Bearer error="invalid_token", error_description="` + reason.Error() + `"`
		}
		info.ResponseHeader().Set("WWW-Authenticate", challenge)
	}
	cerr := connect.NewError(connect.CodeUnauthenticated, reason.Error()).WithCause(err)
	if detail, derr := connectproto.NewErrorDetail(&errdetails.ErrorInfo{Domain: ErrorDomain, Reason: ErrorReason}); derr == nil {
		cerr = cerr.WithDetail(detail)
	}
	return cerr
}
