package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect/v2"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is the W3C trace context and baggage, both inbound (from the
// caller's headers) and outbound (to SmartAssist).
var Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// TracingEnabled reports whether the standard OTEL_* environment asks for
// traces: an OTLP endpoint is set, or OTEL_TRACES_EXPORTER=otlp. Tracing
// is off otherwise, and always with OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none.
func TracingEnabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch exporter := strings.ToLower(getenv("OTEL_TRACES_EXPORTER")); exporter {
	case "none":
		return false
	case "otlp":
		return true
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// NewOTLPTracerProvider builds a tracer provider exporting over OTLP,
// configured entirely by the standard OTEL_* variables (endpoint, headers,
// protocol grpc or http/protobuf, sampler, service name and resource
// attributes). Shut it down to flush.
func NewOTLPTracerProvider(ctx context.Context, getenv func(string) string, version string) (*sdktrace.TracerProvider, error) {
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exporter sdktrace.SpanExporter
	var err error
	switch protocol {
	case "", "http/protobuf":
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want grpc or http/protobuf", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName("smartassist-bridge"), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, err
	}
	// Variables such as OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
	if envRes, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, envRes); err == nil {
			res = merged
		}
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res)), nil
}

const instrumentationName = "github.com/smartassist-bridge/smartassist-bridge/service/telemetry"

// TracingInterceptor starts a server span per RPC, continuing the caller's
// trace from its traceparent header, with the RPC semantic-convention
// attributes. It must run outermost so that every other interceptor, and
// the access log's trace_id, see the span.
//
// (connectrpc.com/otelconnect has no release for connect v2 yet; this is
// the part of it the bridge needs, on the OpenTelemetry API.)
func TracingInterceptor(tp trace.TracerProvider) connect.ServerInterceptor {
	tracer := tp.Tracer(instrumentationName)
	return func(next connect.ServerFunc) connect.ServerFunc {
		return func(ctx context.Context, spec connect.Spec, stream connect.ServerStream) error {
			info, _ := connect.CallInfoForServerContext(ctx)
			if info != nil {
				ctx = Propagator.Extract(ctx, headerCarrier{info.RequestHeader()})
			}
			service, method := splitProcedure(spec.Procedure)
			system := "connect_rpc"
			if info != nil && strings.HasPrefix(info.Protocol, "grpc") {
				system = "grpc"
			}
			name := strings.TrimPrefix(spec.Procedure, "/")
			if spec.Schema == nil {
				name = "unknown" // keep span names bounded, as metric labels
			}
			ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(
					attribute.String("rpc.system", system),
					attribute.String("rpc.service", service),
					attribute.String("rpc.method", method),
				))
			defer span.End()
			err := next(ctx, spec, stream)
			if err != nil {
				code := connect.CodeOf(err)
				if system == "grpc" {
					span.SetAttributes(attribute.Int("rpc.grpc.status_code", int(code)))
				} else {
					span.SetAttributes(attribute.String("rpc.connect_rpc.error_code", code.String()))
				}
				if ServerFault(code) {
					var cerr *connect.Error
					msg := code.String()
					if errors.As(err, &cerr) {
						msg = cerr.Message()
					}
					span.SetStatus(codes.Error, msg)
				}
			} else if system == "grpc" {
				span.SetAttributes(attribute.Int("rpc.grpc.status_code", 0))
			}
			return err
		}
	}
}

// ServerFault reports the codes OpenTelemetry's RPC conventions count as
// server errors: the span's error status, and the access log's error
// level, both use it.
func ServerFault(c connect.Code) bool {
	switch c {
	case connect.CodeUnknown, connect.CodeDeadlineExceeded, connect.CodeUnimplemented,
		connect.CodeInternal, connect.CodeUnavailable, connect.CodeDataLoss:
		return true
	}
	return false
}

func splitProcedure(procedure string) (service, method string) {
	p := strings.TrimPrefix(procedure, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, ""
}

// UpstreamTransport wraps rt so each request to SmartAssist is a client
// span, child of the RPC's span, and carries its traceparent.
func UpstreamTransport(tp trace.TracerProvider, rt http.RoundTripper) http.RoundTripper {
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return "SmartAssist " + r.Method // the path holds ids: keep them out of span names
		}))
}

// TraceID returns the trace id of the span in ctx, or "".
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// headerCarrier adapts connect's Header to the propagation API.
type headerCarrier struct{ h *connect.Header }

func (c headerCarrier) Get(key string) string { return c.h.Get(key) }
func (c headerCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c headerCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, k)
	}
	return keys
}
