// Package bridge assembles the smartassist-bridge server: the Connect
// handlers, gRPC health and reflection, the interceptors every call passes
// through, CORS for browsers, and one listener speaking HTTP/1.1 and HTTP/2
// (cleartext or TLS) with a graceful, health-first shutdown.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	connectcors "connectrpc.com/cors"
	"connectrpc.com/grpcreflect/v2"
	"github.com/rs/cors"
	"go.opentelemetry.io/otel/trace"

	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/health"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/telemetry"
)

// Options configure a Bridge.
type Options struct {
	// Service holds the handlers' dependencies: the upstream client, the
	// cache, the watch hub, the account policy and the limits.
	Service service.Options
	// CallerAuth, when set, authenticates every call except health and
	// reflection before anything else runs (see service/callerauth).
	CallerAuth connect.ServerInterceptor
	// CallerSubject reads the authenticated caller's subject from a call's
	// context, for the access log; nil when CallerAuth is nil.
	CallerSubject func(context.Context) string
	// CORSOrigins are the browser origins allowed to call, exactly as
	// browsers send them ("https://app.example.com"); "*" allows any. None
	// means no CORS headers at all, so browsers on other origins are
	// refused.
	CORSOrigins []string
	// MaxRequestBytes bounds a request message (after decompression);
	// 0 means 1 MiB.
	MaxRequestBytes int
	// Logger receives one access line per RPC and every recovered panic.
	Logger *slog.Logger
	// Metrics, when set, counts and times every RPC.
	Metrics *telemetry.Metrics
	// TracerProvider, when set, makes a server span of every RPC,
	// continuing the caller's W3C trace context.
	TracerProvider trace.TracerProvider
}

// Bridge is the assembled server.
type Bridge struct {
	handler http.Handler
	// streaming holds the paths of the procedures that stream, for
	// boundTime; every other path is bounded as a unary call.
	streaming map[string]bool
	health    *health.Server
	log       *slog.Logger
	drain     drainSignal // closed by Serve when it starts closing
}

// New assembles a Bridge.
func New(o Options) *Bridge {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = 1 << 20
	}
	b := &Bridge{log: log}
	// Tracing runs outermost so the access log and everything inside see
	// the span; caller authentication runs inside the access log and
	// metrics, so refused calls are logged and counted; panic recovery
	// runs innermost, so that a panicking call is an internal error that
	// the access log, metrics and span all record.
	var interceptors []connect.ServerInterceptor
	if o.TracerProvider != nil {
		interceptors = append(interceptors, telemetry.TracingInterceptor(o.TracerProvider))
	}
	interceptors = append(interceptors, accessLog(log))
	if o.Metrics != nil {
		interceptors = append(interceptors, o.Metrics.Interceptor())
	}
	if o.CallerAuth != nil {
		interceptors = append(interceptors, o.CallerAuth, recordCaller(o.CallerSubject))
	}
	interceptors = append(interceptors, recoverPanics(log))
	rpc := connect.NewServer(interceptors...)
	svc := o.Service
	if svc.Logger == nil {
		svc.Logger = log
	}
	svc.Draining = b.Draining()
	smartassistv1connect.RegisterConversationServiceHandler(rpc, service.NewConversationServer(svc))
	b.health = health.New(smartassistv1connect.ConversationServiceName)
	b.health.Register(rpc)
	grpcreflect.Register(rpc)
	b.streaming = make(map[string]bool)
	for spec := range rpc.Specs() {
		if spec.StreamType != connect.StreamTypeUnary {
			b.streaming[spec.Procedure] = true
		}
	}

	mux := http.NewServeMux()
	connecthttp.Mount(mux, rpc, connecthttp.WithReadMaxBytes(o.MaxRequestBytes))
	b.handler = withCORS(notModified(mux), o.CORSOrigins)
	return b
}

// PublicProcedure reports the procedures that need no caller token:
// health checks (probes and meshes call them) and reflection (it only
// describes the API).
func PublicProcedure(procedure string) bool {
	return strings.HasPrefix(procedure, "/"+health.ServiceName+"/") ||
		strings.HasPrefix(procedure, "/grpc.reflection.")
}

// Handler serves every RPC of the bridge.
func (b *Bridge) Handler() http.Handler { return b.handler }

// Health is the bridge's health state; Serve drains it on shutdown.
func (b *Bridge) Health() *health.Server { return b.health }

// withCORS lets the listed browser origins call over Connect and gRPC-Web,
// exposing the headers and trailers those protocols need. With no origins
// it adds nothing (rs/cors would otherwise allow every origin).
func withCORS(h http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return h
	}
	allowed := append(connectcors.AllowedHeaders(), service.CredentialHeaders...)
	allowed = append(allowed, smartassist.ForwardedHeaders...)
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: connectcors.AllowedMethods(),
		// The protocol headers, plus what our callers send: credentials
		// and correlation/trace context.
		AllowedHeaders: allowed,
		// ETag lets a page see the validator of a cacheable GET.
		ExposedHeaders: append(connectcors.ExposedHeaders(), "Etag", "Www-Authenticate"),
		MaxAge:         7200, // seconds; browsers cap it lower anyway
	}).Handler(h)
}

// ServeOptions control how Serve runs and stops.
type ServeOptions struct {
	// CertFile and KeyFile, when both set, serve TLS (HTTP/2 via ALPN, and
	// HTTP/1.1; TLS 1.2 at least); otherwise cleartext HTTP/1.1 and h2c
	// share the port.
	CertFile, KeyFile string
	// ClientCAFile, a PEM file of CA certificates, makes the TLS listener
	// require a client certificate signed by one of them (mTLS). It needs
	// CertFile and KeyFile.
	ClientCAFile string
	// RequestReadTimeout bounds the time a request's body may take to
	// arrive, from the request's start. 0 means 30s.
	RequestReadTimeout time.Duration
	// ResponseWriteTimeout bounds the writing of a unary response, from
	// its first byte to its end, and each write and flush of a stream, so
	// a client that stops reading releases its call while a server stream
	// may stay quiet between writes as long as it likes. It also closes
	// an HTTP/2 connection whose peer reads nothing for that long. 0 means
	// 30s.
	ResponseWriteTimeout time.Duration
	// IdleTimeout closes a connection that has carried no request for
	// that long. 0 means 2m.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds how long in-flight calls may take to finish
	// once shutdown starts; calls still running then are cut. 0 means 20s.
	ShutdownTimeout time.Duration
	// DrainDelay is how long the server keeps accepting new calls after
	// reporting NOT_SERVING, so load balancers and meshes that poll health
	// stop sending before the listener closes.
	DrainDelay time.Duration
	// OnDrain is called when draining starts, after health reports
	// NOT_SERVING (for example, to fail a readiness endpoint).
	OnDrain func()
}

// Limits of the listener beyond ServeOptions'. Reading a request's headers
// (and the TLS handshake) is bounded; bodies and responses are bounded per
// request by boundTime, as Server.ReadTimeout and WriteTimeout would cut
// long-lived streams.
const (
	readHeaderTimeout = 10 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Serve serves on ln until ctx is done, then shuts down gracefully: health
// goes NOT_SERVING first, new calls are still accepted for DrainDelay, then
// Draining is closed (streams end with UNAVAILABLE), the listener closes
// and in-flight calls get up to ShutdownTimeout to finish. It returns nil
// after a clean shutdown.
func (b *Bridge) Serve(ctx context.Context, ln net.Listener, o ServeOptions) error {
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 20 * time.Second
	}
	if o.RequestReadTimeout <= 0 {
		o.RequestReadTimeout = defaultRequestReadTimeout
	}
	if o.ResponseWriteTimeout <= 0 {
		o.ResponseWriteTimeout = defaultResponseWriteTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	useTLS := o.CertFile != "" && o.KeyFile != ""
	if o.ClientCAFile != "" && !useTLS {
		return errClientCAWithoutTLS
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // gRPC clients without TLS speak h2c
	protocols.SetHTTP2(true)
	srv := &http.Server{
		Handler:           boundTime(b.handler, o.RequestReadTimeout, o.ResponseWriteTimeout, b.streaming),
		Protocols:         protocols,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// A peer that stops reading the whole HTTP/2 connection stalls
		// every frame, resets included; this closes such a connection.
		HTTP2:       &http.HTTP2Config{WriteByteTimeout: o.ResponseWriteTimeout},
		ErrorLog:    slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if useTLS {
		cfg, err := tlsConfig(o)
		if err != nil {
			return err
		}
		srv.TLSConfig = cfg
	}
	served := make(chan error, 1)
	go func() {
		if useTLS {
			served <- srv.ServeTLS(ln, o.CertFile, o.KeyFile)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		b.health.Shutdown()
		b.drain.close()
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	b.health.Shutdown()
	b.log.Info("health: NOT_SERVING; draining", slog.Duration("drain_delay", o.DrainDelay), slog.Duration("shutdown_timeout", o.ShutdownTimeout))
	if o.OnDrain != nil {
		o.OnDrain()
	}
	time.Sleep(o.DrainDelay)

	// Streams end now rather than at ShutdownTimeout, while their clients
	// can still resume elsewhere.
	b.drain.close()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		_ = srv.Close() // cut what did not finish in time
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	b.log.Info("shutdown complete: every in-flight call finished")
	return nil
}
