package bridge

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connectproto"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/smartassist-bridge/smartassist-bridge/service/health"
	"github.com/smartassist-bridge/smartassist-bridge/service/telemetry"
)

// recoverPanics turns a panic anywhere in a call into an internal error for
// the caller and an error log line with the stack for us. A v2 interceptor
// surrounds the whole call, so this covers decoding and encoding too.
func recoverPanics(log *slog.Logger) connect.ServerInterceptor {
	return func(next connect.ServerFunc) connect.ServerFunc {
		return func(ctx context.Context, spec connect.Spec, stream connect.ServerStream) (err error) {
			defer func() {
				if r := recover(); r != nil {
					log.ErrorContext(ctx, "panic serving RPC", slog.String("procedure", spec.Procedure),
						slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
					err = connect.NewError(connect.CodeInternal, "internal error")
				}
			}()
			return next(ctx, spec, stream)
		}
	}
}

// accessLog writes one line per RPC: procedure, protocol, code, duration,
// SmartAssist's HTTP status, request id and trace id. Health checks go to
// debug level: probes call them every few seconds. No header value other
// than the request id is ever logged, so no credential can be.
func accessLog(log *slog.Logger) connect.ServerInterceptor {
	return func(next connect.ServerFunc) connect.ServerFunc {
		return func(ctx context.Context, spec connect.Spec, stream connect.ServerStream) error {
			start := time.Now()
			caller := new(callerNote)
			err := next(context.WithValue(ctx, callerNoteKey{}, caller), spec, stream)
			attrs := []slog.Attr{
				slog.String("procedure", spec.Procedure),
				slog.String("code", codeName(err)),
				slog.Duration("duration", time.Since(start)),
			}
			if info, ok := connect.CallInfoForServerContext(ctx); ok {
				attrs = append(attrs, slog.String("protocol", info.Protocol), slog.String("codec", info.Codec))
				if id := info.RequestHeader().Get("X-Request-Id"); id != "" {
					attrs = append(attrs, slog.String("request_id", truncate(id, 128)))
				}
			}
			if caller.subject != "" {
				attrs = append(attrs, slog.String("caller", caller.subject))
			}
			if status := upstreamStatus(spec, err); status != "" {
				attrs = append(attrs, slog.String("upstream_status", status))
			}
			if traceID := telemetry.TraceID(ctx); traceID != "" {
				attrs = append(attrs, slog.String("trace_id", traceID))
			}
			level := slog.LevelInfo
			switch {
			case strings.HasPrefix(spec.Procedure, "/"+health.ServiceName+"/"):
				level = slog.LevelDebug
			case err != nil && telemetry.ServerFault(connect.CodeOf(err)):
				level = slog.LevelError
			}
			log.LogAttrs(ctx, level, "rpc", attrs...)
			return err
		}
	}
}

// callerNote carries the authenticated caller's subject from the caller
// authentication interceptor (inside) to the access log (outside).
type callerNote struct{ subject string }

type callerNoteKey struct{}

// recordCaller notes the subject of an authenticated call for the access
// log and on the call's span (enduser.id), never the token itself.
func recordCaller(subject func(context.Context) string) connect.ServerInterceptor {
	return func(next connect.ServerFunc) connect.ServerFunc {
		return func(ctx context.Context, spec connect.Spec, stream connect.ServerStream) error {
			if subject != nil {
				if sub := truncate(subject(ctx), 256); sub != "" {
					if note, ok := ctx.Value(callerNoteKey{}).(*callerNote); ok {
						note.subject = sub
					}
					trace.SpanFromContext(ctx).SetAttributes(attribute.String("enduser.id", sub))
				}
			}
			return next(ctx, spec, stream)
		}
	}
}

func codeName(err error) string {
	if err == nil {
		return "ok"
	}
	return connect.CodeOf(err).String()
}

// upstreamStatus is SmartAssist's HTTP status for a GetConversation: 200
// on success, else what our error's ErrorInfo recorded (none when
// SmartAssist was never reached).
func upstreamStatus(spec connect.Spec, err error) string {
	if !strings.HasSuffix(spec.Procedure, "/GetConversation") {
		return ""
	}
	if err == nil {
		return "200"
	}
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return ""
	}
	for _, d := range cerr.Details() {
		msg, uerr := connectproto.UnmarshalErrorDetail(d)
		if info, ok := msg.(*errdetails.ErrorInfo); ok && uerr == nil {
			return info.GetMetadata()["httpStatus"]
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
