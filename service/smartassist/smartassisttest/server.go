// Package smartassisttest provides a fake SmartAssist conversation API for
// tests of code that calls it.
//
// The fake serves, on a loopback httptest.Server,
//
//	GET /agentassist/api/v1/public/{streamId}/conversations/{conversationId}
//	GET /agentassist/api/v1/public/{streamId}/conversations?skip=&limit=&fields=&status=&source=&language=
//
// It checks the "auth" and "accountId" headers the way SmartAssist does,
// answers with SmartAssist-shaped error bodies
// ({"errors":[{"msg":"...","code":"..."}]}), can enforce a per-account quota
// (WithQuota) with SmartAssist's 429 answer, records every request, and can be
// scripted to fail (status codes, delays, dropped connections, bodies cut
// off mid-way) before it answers normally.
package smartassisttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
)

// Server is a running fake SmartAssist.
type Server struct {
	// URL is the base URL to put in the client's configuration, e.g.
	// "http://127.0.0.1:41234".
	URL string

	srv *httptest.Server

	// Set by options before the server starts, read-only afterwards.
	clientID     string
	secret       []byte
	passThrough  string
	accountID    string
	checkAccount bool
	quota        int
	quotaWindow  time.Duration

	mu            sync.Mutex
	conversations map[conversationKey][]byte
	order         map[string][]string   // conversation ids per stream, in registration order
	scripts       map[string][]Response // by conversation id; listScriptKey for the list
	requests      []RecordedRequest
	sent          map[string][]time.Time // quota log: accepted requests per accountId
	tooMany       int
}

// listScriptKey keys the list endpoint's scripts; it is no valid id.
const listScriptKey = "\x00list"

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
//
// The list endpoint serves a stream's registered conversations in
// registration order, leaving out bodies that are not valid JSON.
func WithConversation(streamID, conversationID string, body []byte) Option {
	return func(s *Server) { s.setConversation(streamID, conversationID, body) }
}

// SetConversation registers or replaces a conversation while the server
// runs, as WithConversation does before it starts; a replaced conversation
// keeps its place in the list. Tests use it to make a conversation change.
func (s *Server) SetConversation(streamID, conversationID string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setConversation(streamID, conversationID, body)
}

func (s *Server) setConversation(streamID, conversationID string, body []byte) {
	key := conversationKey{streamID, conversationID}
	if _, ok := s.conversations[key]; !ok {
		s.order[streamID] = append(s.order[streamID], conversationID)
	}
	s.conversations[key] = append([]byte(nil), body...)
}

// WithQuota makes the server enforce SmartAssist's per-account rate limit:
// at most n requests per accountId header value (requests without one share
// a quota) in any window of length per, counted as a sliding-window log of
// the requests it accepted. A request beyond it is answered with 429, a
// Retry-After in whole seconds (rounded up) until the oldest request in the
// window leaves it, and SmartAssist's body
// {"errors":[{"msg":"You've exceeded the per-minute rate limit","code":"429"}]}.
// The quota is checked after authentication and before anything else.
func WithQuota(n int, per time.Duration) Option {
	return func(s *Server) { s.quota, s.quotaWindow = n, per }
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
	// CutBody answers with Status, Header, a Content-Length of len(Body),
	// and only the first half of Body before closing the connection, as a
	// connection dropped mid-answer would.
	CutBody bool
}

// RecordedRequest is a request the server received.
type RecordedRequest struct {
	Method string
	// Path is the escaped path as received, so that tests can see exactly
	// what the client put on the wire.
	Path string
	// Query is the raw query string as received, without "?".
	Query  string
	Header http.Header
}

// NewServer starts a fake SmartAssist configured by opts. It is closed by
// tb.Cleanup.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{
		conversations: make(map[conversationKey][]byte),
		order:         make(map[string][]string),
		scripts:       make(map[string][]Response),
		sent:          make(map[string][]time.Time),
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

// ScriptList queues responses for list requests, as Script does for a
// conversation.
func (s *Server) ScriptList(responses ...Response) {
	s.Script(listScriptKey, responses...)
}

// TooManyRequests returns how many 429 answers the server has sent, scripted
// or enforcing WithQuota.
func (s *Server) TooManyRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tooMany
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RecordedRequest, len(s.requests))
	for i, r := range s.requests {
		out[i] = RecordedRequest{Method: r.Method, Path: r.Path, Query: r.Query, Header: r.Header.Clone()}
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
	streamID, conversationID, list, pathOK := parsePath(r.URL.EscapedPath())
	scriptKey := conversationID
	if list {
		scriptKey = listScriptKey
	}

	s.mu.Lock()
	s.requests = append(s.requests, RecordedRequest{
		Method: r.Method,
		Path:   r.URL.EscapedPath(),
		Query:  r.URL.RawQuery,
		Header: r.Header.Clone(),
	})
	var scripted *Response
	if q := s.scripts[scriptKey]; pathOK && len(q) > 0 {
		scripted, s.scripts[scriptKey] = &q[0], q[1:]
		if scripted.Status == http.StatusTooManyRequests && !scripted.CloseConn {
			s.tooMany++
		}
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
	case !s.admit(w, r.Header.Get("accountId")):
		// admit answered 429.
	case s.checkAccount && r.Header.Get("accountId") != s.accountID:
		writeError(w, http.StatusForbidden, "Account mismatch")
	case list:
		s.serveList(w, r, streamID)
	default:
		s.mu.Lock()
		body, ok := s.conversations[conversationKey{streamID, conversationID}]
		s.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "Conversation not found")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

// admit applies WithQuota to a request for account. It reports whether the
// request may proceed; when not, it has answered 429.
func (s *Server) admit(w http.ResponseWriter, account string) bool {
	if s.quota <= 0 {
		return true
	}
	now := time.Now()
	s.mu.Lock()
	log := s.sent[account]
	// Drop the requests that have left the window.
	i := 0
	for i < len(log) && !now.Before(log[i].Add(s.quotaWindow)) {
		i++
	}
	log = log[i:]
	if len(log) < s.quota {
		s.sent[account] = append(log, now)
		s.mu.Unlock()
		return true
	}
	wait := log[0].Add(s.quotaWindow).Sub(now)
	s.sent[account] = log
	s.tooMany++
	s.mu.Unlock()

	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	writeError(w, http.StatusTooManyRequests, "You've exceeded the per-minute rate limit")
	return false
}

// defaultListLimit is the page size when a list request names none, as in
// SmartAssist's sample answer.
const defaultListLimit = 10

// serveList answers a list request for streamID. Filters compare the
// conversation's top-level "status", "source" and "language" strings;
// status may be repeated or comma-separated, and any listed value matches.
// fields (comma-separated key paths, dots for nesting) projects each result
// onto those keys plus "_id", as a MongoDB projection does.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request, streamID string) {
	q := r.URL.Query()
	skip, err := intParam(q, "skip", 0)
	if err != nil || skip < 0 {
		writeError(w, http.StatusBadRequest, "skip must be a non-negative integer")
		return
	}
	limit, err := intParam(q, "limit", defaultListLimit)
	if err != nil || limit <= 0 {
		writeError(w, http.StatusBadRequest, "limit must be a positive integer")
		return
	}
	var statuses []string
	for _, v := range q["status"] {
		statuses = append(statuses, strings.Split(v, ",")...)
	}
	source, language := q.Get("source"), q.Get("language")
	var fields []string
	if f := q.Get("fields"); f != "" {
		fields = strings.Split(f, ",")
	}

	s.mu.Lock()
	var matched []json.RawMessage
	for _, id := range s.order[streamID] {
		body := s.conversations[conversationKey{streamID, id}]
		var keys struct {
			Status   string `json:"status"`
			Source   string `json:"source"`
			Language string `json:"language"`
		}
		if !json.Valid(body) {
			continue
		}
		_ = json.Unmarshal(body, &keys) // a non-object matches no filter
		if (len(statuses) > 0 && !contains(statuses, keys.Status)) ||
			(source != "" && keys.Source != source) ||
			(language != "" && keys.Language != language) {
			continue
		}
		matched = append(matched, body)
	}
	s.mu.Unlock()

	page := demo.NewListPage(matched, skip, limit)
	if fields != nil {
		projected := make([]json.RawMessage, len(page.Results))
		for i, body := range page.Results {
			projected[i] = project(body, fields)
		}
		page.Results = projected
	}
	out, err := json.Marshal(page)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func intParam(q url.Values, name string, def int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// project keeps the key paths in fields (and "_id") of a JSON object; a
// non-object is returned unchanged.
func project(body json.RawMessage, fields []string) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return body
	}
	out := demo.Project(doc, fields)
	b, err := json.Marshal(out)
	if err != nil {
		return body
	}
	return b
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

// parsePath splits an escaped conversation or list path into its unescaped
// ids; list is true for the list endpoint, whose conversationID is "".
func parsePath(escaped string) (streamID, conversationID string, list, ok bool) {
	const prefix = "/agentassist/api/v1/public/"
	rest, ok := strings.CutPrefix(escaped, prefix)
	if !ok {
		return "", "", false, false
	}
	if stream, ok := strings.CutSuffix(rest, "/conversations"); ok {
		if stream == "" || strings.Contains(stream, "/") {
			return "", "", false, false
		}
		stream, err := url.PathUnescape(stream)
		return stream, "", true, err == nil
	}
	stream, conv, ok := strings.Cut(rest, "/conversations/")
	if !ok || stream == "" || conv == "" || strings.Contains(stream, "/") || strings.Contains(conv, "/") {
		return "", "", false, false
	}
	stream, err1 := url.PathUnescape(stream)
	conv, err2 := url.PathUnescape(conv)
	if err1 != nil || err2 != nil {
		return "", "", false, false
	}
	return stream, conv, false, true
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
	if resp.CutBody {
		serveCut(w, resp)
		return
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

// serveCut writes resp's head with the full Content-Length, then half its
// body, straight to the hijacked connection, and closes it.
func serveCut(w http.ResponseWriter, resp Response) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	h := resp.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	_ = h.Write(buf)
	_, _ = buf.WriteString("\r\n")
	_, _ = buf.Write(resp.Body[:len(resp.Body)/2])
	_ = buf.Flush()
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
