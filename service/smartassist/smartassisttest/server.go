// Package smartassisttest provides a fake SmartAssist conversation API for
// tests of code that calls it.
//
// The fake serves GET /agentassist/api/v1/public/{streamId}/conversations/{conversationId}
// on a loopback httptest.Server. It checks the "auth" and "accountId" headers
// the way SmartAssist does, answers with SmartAssist-shaped error bodies
// ({"errors":[{"msg":"...","code":"..."}]}), records every request, and can be
// scripted to fail (status codes, delays, dropped connections) before it
// answers normally.
package smartassisttest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Server is a running fake SmartAssist.
type Server struct {
	// URL is the base URL to put in the client's configuration, e.g.
	// "http://127.0.0.1:41234".
	URL string

	srv *httptest.Server

	// Set by options before the server starts, read-only afterwards.
	clientID      string
	secret        []byte
	passThrough   string
	accountID     string
	checkAccount  bool
	conversations map[conversationKey][]byte

	mu       sync.Mutex
	scripts  map[string][]Response // by conversation id
	requests []RecordedRequest
}

type conversationKey struct{ streamID, conversationID string }

// Option configures a Server.
type Option func(*Server)

// WithSecret makes the server verify the "auth" header as a SmartAssist app
// JWT: HS256 signed with secret, with claim appId equal to clientID, an exp in
// the future and an iat not in the future. Any other token is answered with
// 401 and {"errors":[{"msg":"invalid token","code":"401"}]}.
func WithSecret(clientID string, secret []byte) Option {
	return func(s *Server) {
		s.clientID = clientID
		s.secret = append([]byte(nil), secret...)
	}
}

// WithPassThroughToken makes the server accept exactly tok in the "auth"
// header, in addition to tokens WithSecret accepts.
//
// Without WithSecret or WithPassThroughToken any non-empty "auth" header is
// accepted. A missing one is always answered with 401.
func WithPassThroughToken(tok string) Option {
	return func(s *Server) { s.passThrough = tok }
}

// WithConversation makes the server answer requests for the conversation
// with 200, Content-Type application/json and body. Requests for
// conversations not registered this way are answered with 404 and
// {"errors":[{"msg":"Conversation not found","code":"404"}]}.
func WithConversation(streamID, conversationID string, body []byte) Option {
	return func(s *Server) {
		s.conversations[conversationKey{streamID, conversationID}] = append([]byte(nil), body...)
	}
}

// WithAccountID makes the server answer 403 to requests whose "accountId"
// header is not id, including requests without one.
func WithAccountID(id string) Option {
	return func(s *Server) {
		s.accountID = id
		s.checkAccount = true
	}
}

// Response is a scripted answer; see Server.Script.
type Response struct {
	// Status defaults to 200.
	Status int
	Body   []byte
	// Header is added to the response. Content-Type defaults to
	// application/json when Body is not empty.
	Header http.Header
	// Delay is waited before answering, or until the client goes away.
	Delay time.Duration
	// CloseConn closes the connection without answering, as a crashed or
	// overloaded upstream would. Note that net/http itself resends a GET
	// once, invisibly, when a reused keep-alive connection closes before any
	// answer; on a fresh connection the client sees the error.
	CloseConn bool
}

// RecordedRequest is a request the server received.
type RecordedRequest struct {
	Method string
	// Path is the escaped path as received, so that tests can see exactly
	// what the client put on the wire.
	Path   string
	Header http.Header
}

// NewServer starts a fake SmartAssist configured by opts. It is closed by
// tb.Cleanup.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{
		conversations: make(map[conversationKey][]byte),
		scripts:       make(map[string][]Response),
	}
	for _, opt := range opts {
		opt(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// Script queues responses that requests for conversationID receive, one per
// request and in order, before the server goes back to its normal behaviour.
// Scripted responses are served before any check, as a gateway in front of
// SmartAssist would answer.
func (s *Server) Script(conversationID string, responses ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[conversationID] = append(s.scripts[conversationID], responses...)
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RecordedRequest, len(s.requests))
	for i, r := range s.requests {
		out[i] = RecordedRequest{Method: r.Method, Path: r.Path, Header: r.Header.Clone()}
	}
	return out
}

// Hits returns the number of requests received so far.
func (s *Server) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	streamID, conversationID, pathOK := parsePath(r.URL.EscapedPath())

	s.mu.Lock()
	s.requests = append(s.requests, RecordedRequest{
		Method: r.Method,
		Path:   r.URL.EscapedPath(),
		Header: r.Header.Clone(),
	})
	var scripted *Response
	if q := s.scripts[conversationID]; pathOK && len(q) > 0 {
		scripted, s.scripts[conversationID] = &q[0], q[1:]
	}
	s.mu.Unlock()

	if scripted != nil {
		serveScripted(w, r, *scripted)
		return
	}
	switch {
	case r.Method != http.MethodGet:
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed")
	case !pathOK:
		writeError(w, http.StatusNotFound, "Not found")
	case r.Header.Get("auth") == "":
		writeError(w, http.StatusUnauthorized, "auth header missing")
	case !s.authorized(r.Header.Get("auth")):
		writeError(w, http.StatusUnauthorized, "invalid token")
	case s.checkAccount && r.Header.Get("accountId") != s.accountID:
		writeError(w, http.StatusForbidden, "Account mismatch")
	default:
		body, ok := s.conversations[conversationKey{streamID, conversationID}]
		if !ok {
			writeError(w, http.StatusNotFound, "Conversation not found")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

// authorized reports whether the non-empty token tok is accepted.
func (s *Server) authorized(tok string) bool {
	if s.passThrough == "" && s.secret == nil {
		return true
	}
	if s.passThrough != "" && tok == s.passThrough {
		return true
	}
	return s.secret != nil && s.validJWT(tok)
}

func (s *Server) validJWT(tok string) bool {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims,
		func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	if err != nil {
		return false
	}
	if _, ok := claims["iat"]; !ok {
		return false
	}
	appID, _ := claims["appId"].(string)
	return appID == s.clientID
}

// parsePath splits an escaped conversation path into its unescaped ids.
func parsePath(escaped string) (streamID, conversationID string, ok bool) {
	const prefix = "/agentassist/api/v1/public/"
	rest, ok := strings.CutPrefix(escaped, prefix)
	if !ok {
		return "", "", false
	}
	stream, conv, ok := strings.Cut(rest, "/conversations/")
	if !ok || stream == "" || conv == "" || strings.Contains(stream, "/") || strings.Contains(conv, "/") {
		return "", "", false
	}
	stream, err1 := url.PathUnescape(stream)
	conv, err2 := url.PathUnescape(conv)
	if err1 != nil || err2 != nil {
		return "", "", false
	}
	return stream, conv, true
}

func serveScripted(w http.ResponseWriter, r *http.Request, resp Response) {
	if resp.Delay > 0 {
		t := time.NewTimer(resp.Delay)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
	if resp.CloseConn {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// HTTP/2 connections cannot be hijacked; breaking the stream is
			// the closest equivalent.
			panic(http.ErrAbortHandler)
		}
		_ = conn.Close()
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = append([]string(nil), v...)
	}
	if len(resp.Body) > 0 && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}

// writeError answers with a SmartAssist-shaped error body whose code is the
// status as a string.
func writeError(w http.ResponseWriter, status int, msg string) {
	type entry struct {
		Msg  string `json:"msg"`
		Code string `json:"code"`
	}
	body, _ := json.Marshal(struct {
		Errors []entry `json:"errors"`
	}{[]entry{{msg, strconv.Itoa(status)}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
