// Package demo is a stand-in SmartAssist that serves the conversation from
// SmartAssist's documentation, a list of conversations generated from its
// list sample, and one live conversation that changes every few seconds, so
// that the bridge run with no flags shows real output at once. It is for
// trying the bridge, never for production: the command refuses to start in
// demo mode when credentials are configured.
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

const (
	notFound       = `{"errors":[{"msg":"Conversation not found","code":"404"}]}`
	streamNotFound = `{"errors":[{"msg":"Stream not found","code":"404"}]}`
	noAuth         = `{"errors":[{"msg":"auth header is missing","code":"401"}]}`
)

// Handler is NewHandler on the wall clock.
func Handler() http.Handler { return NewHandler(time.Now) }

// NewHandler answers like SmartAssist's conversation endpoints for the demo
// stream (StreamID), reading the time from now; the live conversation's
// cycle starts at the first reading.
//
//   - GET /agentassist/api/v1/public/{streamId}/conversations/{id}: the
//     documented sample byte for byte for ConversationID, each listed
//     conversation, the live one as it stands, and a SmartAssist-style 404
//     for any other id or stream.
//   - GET /agentassist/api/v1/public/{streamId}/conversations: the list, as
//     described in its documentation: ConversationCount conversations,
//     newest first, filtered by status (repeated, or comma-separated),
//     source and language, paged by skip and limit (default
//     DefaultListLimit), and projected to the top-level or dotted keys of
//     fields (comma-separated; "_id" always kept). A malformed skip, limit
//     or status is a 400.
//
// Both answer 401 without an auth header.
func NewHandler(now func() time.Time) http.Handler {
	h := &handler{now: now, start: now()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agentassist/api/v1/public/{stream}/conversations/{conversation}", h.get)
	mux.HandleFunc("GET /agentassist/api/v1/public/{stream}/conversations", h.list)
	return mux
}

type handler struct {
	now   func() time.Time
	start time.Time
}

// records returns every conversation as it stands now, newest first.
func (h *handler) records() []record {
	static := staticRecords()
	all := make([]record, 0, len(static)+1)
	all = append(all, liveAt(h.start, h.now().Sub(h.start)))
	return append(all, static...)
}

// admit writes the answer to a request without auth or for another stream
// and reports whether the request may go on.
func admit(w http.ResponseWriter, r *http.Request, missing string) bool {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("auth") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(noAuth))
		return false
	}
	if r.PathValue("stream") != StreamID {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(missing))
		return false
	}
	return true
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	if !admit(w, r, notFound) {
		return
	}
	id := r.PathValue("conversation")
	for _, rec := range h.records() {
		if rec.id == id {
			_, _ = w.Write(rec.body)
			return
		}
	}
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(notFound))
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
