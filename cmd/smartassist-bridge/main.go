// Command smartassist-bridge serves Kore.ai SmartAssist conversations over
// gRPC, gRPC-Web and Connect (JSON and binary) on one port, answering each
// call from SmartAssist's REST API.
//
// Usage:
//
//	smartassist-bridge [flags]
//
// With no flags it runs in demo mode: an embedded upstream serves the
// conversation from SmartAssist's documentation, so that
//
//	go run ./cmd/smartassist-bridge &
//	curl -s localhost:8080/smartassist.v1.ConversationService/GetConversation \
//	  -H 'content-type: application/json' \
//	  -d '{"streamId":"st-3bf09bef-f979-5489-b337-f465bd5db1f4","conversationId":"c-3c04346-e522-4c53-9e03-c9566d859aad"}'
//
// answers at once. In production, point --upstream at SmartAssist and give
// either client credentials (--client-id with --client-secret-file) or let
// callers pass their own JWT in an auth or authorization: Bearer header.
// Every flag has an environment fallback SMARTASSIST_BRIDGE_<FLAG>; run with
// -h for the list. On SIGTERM or SIGINT the bridge reports NOT_SERVING,
// waits --drain-delay, and lets in-flight calls finish within
// --shutdown-timeout.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect/v2"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/internal/logbatch"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/bridge"
	"github.com/smartassist-bridge/smartassist-bridge/service/callerauth"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// version is the build's version, set with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	if errors.Is(err, errUsage) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "smartassist-bridge:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run is the whole command. onReady, when not nil, is told the addresses the
// bridge and its admin server listen on (tests use it).
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, onReady func(rpcAddr, adminAddr string)) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flagErrHelp) {
			return nil
		}
		if isFlagSyntaxError(err) {
			return errUsage // the flag package has printed the problem and usage
		}
		return err
	}
	logOut := logbatch.New(stderr, 64<<10, cfg.LogFlushInterval)
	defer logOut.Close()
	log := newLogger(cfg, logOut)
	metrics := telemetry.NewMetrics()

	var tracerProvider trace.TracerProvider
	if telemetry.TracingEnabled(getenv) {
		tp, err := telemetry.NewOTLPTracerProvider(ctx, getenv, version)
		if err != nil {
			return err
		}
		defer func() {
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(flushCtx); err != nil {
				log.Warn("flushing traces failed", slog.String("error", err.Error()))
			}
		}()
		tracerProvider = tp
		log.Info("tracing on: exporting spans over OTLP as the OTEL_* environment configures")
	}

	upstreamURL := cfg.Upstream
	var tokens smartassist.TokenSource
	if cfg.Demo() {
		d, err := demo.Start()
		if err != nil {
			return fmt.Errorf("start demo upstream: %w", err)
		}
		defer d.Close(context.WithoutCancel(ctx))
		upstreamURL = d.URL
		tokens = smartassist.StaticToken("demo")
		log.Warn("DEMO MODE: no --upstream given, serving sample conversations through an embedded upstream; this is not SmartAssist",
			slog.String("stream_id", demo.StreamID), slog.String("conversation_id", demo.ConversationID),
			slog.String("live_conversation_id", demo.LiveConversationID))
	} else if cfg.ClientID != "" {
		tokens = &smartassist.ClientCredentials{ClientID: cfg.ClientID, Secret: []byte(cfg.ClientSecret),
			TTL: cfg.JWTTTL, JTI: cfg.JWTJTI, OnMint: metrics.TokenMinted}
	}
	if cfg.LendsCredentials() && cfg.AllowUnauthenticatedCallers {
		log.Warn("INSECURE BY CHOICE: --allow-unauthenticated-callers lends the bridge's SmartAssist credentials to every caller that reaches --listen; " +
			"only safe when something in front (a mesh, a gateway) authenticates them")
	}

	stores, err := newSharedStores(ctx, cfg, metrics.Stewardship, log)
	if err != nil {
		return err
	}
	defer stores.Close()

	upstreamCfg := smartassist.Config{
		BaseURL:        upstreamURL,
		Timeout:        cfg.UpstreamTimeout,
		AttemptTimeout: cfg.UpstreamAttemptTimeout,
		MaxBodyBytes:   cfg.MaxUpstreamBytes,
		MaxAttempts:    cfg.UpstreamAttempts,
		Tokens:         tokens,
		Hooks:          metrics.UpstreamHooks(),
		Budget:         stores.budget,
	}
	if tracerProvider != nil {
		upstreamCfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return telemetry.UpstreamTransport(tracerProvider, rt)
		}
	}
	client, err := smartassist.New(upstreamCfg)
	if err != nil {
		return fmt.Errorf("--upstream: %w", err)
	}
	defer client.Close()

	var callerAuth connect.ServerInterceptor
	var callerSubject func(context.Context) string
	if cfg.CallerAuth() {
		verifier, err := callerauth.New(ctx, callerauth.Config{
			JWKSFile: cfg.CallerJWKSFile, Issuer: cfg.CallerIssuer, Audience: cfg.CallerAudience, Logger: log,
		})
		if err != nil {
			return fmt.Errorf("--caller-jwks-file: %w", err)
		}
		defer verifier.Close()
		callerAuth = verifier.Interceptor(bridge.PublicProcedure)
		callerSubject = func(ctx context.Context) string {
			c, _ := callerauth.CallerFromContext(ctx)
			return c.Subject
		}
	}

	svc := service.Options{
		Upstream:             client,
		Cache:                stores.cache,
		Watcher:              stores.watcher,
		WatchInterval:        cfg.WatchInterval,
		DefaultAccountID:     cfg.AccountID,
		CallerAuth:           cfg.CallerAuth(),
		MaxConcurrentDecodes: cfg.MaxConcurrentDecodes,
		MaxResponseBytes:     cfg.MaxResponseBytes,
		Decoder: func(body []byte) (*smartassistv1.Conversation, error) {
			return mapping.ConversationWithLimits(body, mapping.Limits{MaxValues: cfg.MaxUpstreamValues})
		},
	}
	if !cfg.Demo() {
		svc.AllowedAccounts, svc.AllowedAccountsForAll = cfg.allowedAccounts()
	}
	b := bridge.New(bridge.Options{
		Service:         svc,
		CallerAuth:      callerAuth,
		CallerSubject:   callerSubject,
		CORSOrigins:     cfg.CORSOrigins,
		MaxRequestBytes: cfg.MaxRequestBytes,
		Logger:          log,
		Metrics:         metrics,
		TracerProvider:  tracerProvider,
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	var ready atomic.Bool
	ready.Store(true)
	adminAddr := ""
	if cfg.AdminListen != "" {
		admin, err := startAdmin(cfg.AdminListen, &ready, metrics.Handler(), stores.health, log)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--admin-listen: %w", err)
		}
		defer admin.Close()
		adminAddr = admin.Addr
	}
	log.Info("serving gRPC, gRPC-Web and Connect",
		slog.String("addr", ln.Addr().String()), slog.String("admin_addr", adminAddr),
		slog.Bool("tls", cfg.TLSCert != ""), slog.Bool("demo", cfg.Demo()),
		slog.String("auth", authMode(cfg)), slog.Bool("caller_auth", cfg.CallerAuth()), slog.Bool("mtls", cfg.TLSClientCA != ""),
		slog.Any("cors_origins", cfg.CORSOrigins), slog.Bool("cache", cfg.Cache), slog.Bool("redis", cfg.RedisURL != ""),
		slog.String("upstream_rate", cfg.UpstreamRate.String()), slog.Int("replicas", cfg.Replicas))
	if onReady != nil {
		onReady(ln.Addr().String(), adminAddr)
	}
	return b.Serve(ctx, ln, bridge.ServeOptions{
		CertFile:             cfg.TLSCert,
		KeyFile:              cfg.TLSKey,
		ClientCAFile:         cfg.TLSClientCA,
		RequestReadTimeout:   cfg.RequestReadTimeout,
		ResponseWriteTimeout: cfg.ResponseWriteTimeout,
		ShutdownTimeout:      cfg.ShutdownTimeout,
		DrainDelay:           cfg.DrainDelay,
		OnDrain:              func() { ready.Store(false) },
	})
}

func authMode(cfg *Config) string {
	switch {
	case cfg.Demo():
		return "demo"
	case cfg.ClientID != "":
		return "client-credentials"
	}
	return "pass-through"
}

// newLogger logs to w at the configured level and format. Lines below
// warning wait up to --log-flush-interval to be written together (one
// system call for many access-log lines); a warning or an error is written
// at once, with the lines before it.
func newLogger(cfg *Config, w *logbatch.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(logbatch.Handler(h, w, slog.LevelWarn))
}

// adminServer serves operators: liveness, readiness and Prometheus metrics, on their own port so they never share fate or
// exposure with the API.
type adminServer struct {
	Addr string
	srv  *http.Server
}

func startAdmin(addr string, ready *atomic.Bool, metrics http.Handler, detail func() map[string]string, log *slog.Logger) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		// Alive, with a detail per shared store: a replica working without
		// Redis is degraded, not down (it serves from its own cache and
		// its share of the budget), so it stays 200.
		_, _ = io.WriteString(w, "ok\n")
		for _, line := range sortedDetail(detail()) {
			_, _ = io.WriteString(w, line+"\n")
		}
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	a := &adminServer{Addr: ln.Addr().String(), srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server stopped", slog.String("error", err.Error()))
		}
	}()
	return a, nil
}

// Close stops the admin server once the API has drained.
func (a *adminServer) Close() { _ = a.srv.Close() }
