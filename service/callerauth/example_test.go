package callerauth_test

import (
	"context"
	"log"
	"log/slog"
	"net/http"
	"strings"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"

	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service/callerauth"
)

// The bridge's wiring: every RPC but health checks and reflection needs a
// caller token signed by a key of the mounted JWK Set.
func ExampleVerifier_Interceptor() {
	ctx := context.Background()
	verifier, err := callerauth.New(ctx, callerauth.Config{
		JWKSFile: "/etc/smartassist-bridge/caller-keys/jwks.json", // --caller-jwks-file
		Issuer:   "https://login.example.com/",                    // --caller-issuer
		Audience: "smartassist-bridge",                            // --caller-audience
		Logger:   slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer verifier.Close()
	public := func(procedure string) bool {
		return strings.HasPrefix(procedure, "/grpc.health.v1.Health/") ||
			strings.HasPrefix(procedure, "/grpc.reflection.")
	}
	server := connect.NewServer(verifier.Interceptor(public))
	smartassistv1connect.RegisterConversationServiceHandler(server, smartassistv1connect.UnimplementedConversationServiceHandler{})
	mux := http.NewServeMux()
	connecthttp.Mount(mux, server)
	_ = mux
}

// A handler reads who is calling, for its logs and traces.
func ExampleCallerFromContext() {
	handle := func(ctx context.Context) {
		if caller, ok := callerauth.CallerFromContext(ctx); ok {
			slog.InfoContext(ctx, "conversation read", slog.String("caller", caller.Subject))
		}
	}
	_ = handle
}
