// Package demo is a stand-in SmartAssist that serves the conversation from
// SmartAssist's documentation, so that the bridge run with no flags shows
// real output at once. It is for trying the bridge, never for production:
// the command refuses to start in demo mode when credentials are
// configured.
package demo

import (
	"context"
	_ "embed"
	"errors"
	"net"
	"net/http"
	"time"
)

// The documented ids of the sample conversation.
const (
	StreamID       = "st-3bf09bef-f979-5489-b337-f465bd5db1f4"
	ConversationID = "c-3c04346-e522-4c53-9e03-c9566d859aad"
)

// Conversation is the sample response of SmartAssist's "Get a specific
// Conversation" documentation, byte for byte.
//
//go:embed conversation.json
var Conversation []byte

const notFound = `{"errors":[{"msg":"Conversation not found","code":"404"}]}`

// Handler answers like SmartAssist's conversation endpoint: the sample for
// its ids, a SmartAssist-style 404 for any other, and 401 without an auth
// header.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agentassist/api/v1/public/{stream}/conversations/{conversation}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("auth") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"msg":"auth header is missing","code":"401"}]}`))
			return
		}
		if r.PathValue("stream") != StreamID || r.PathValue("conversation") != ConversationID {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(notFound))
			return
		}
		_, _ = w.Write(Conversation)
	})
	return mux
}

// Server is a running demo upstream on a loopback port.
type Server struct {
	URL string // base URL, to use as the bridge's upstream
	srv *http.Server
	err chan error
}

// Start serves Handler on 127.0.0.1 on a free port.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		URL: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: Handler(), ReadHeaderTimeout: 5 * time.Second},
		err: make(chan error, 1),
	}
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server, waiting at most until ctx is done.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.err; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}
