package smartassist_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	sat "github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

const wantPath = "/agentassist/api/v1/public/st-1/conversations/c-1"

func TestGetConversationSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		serverOpts []sat.Option
		req        smartassist.Request
		wantHeader http.Header // exact values expected in the recorded request
		wantAbsent []string    // headers that must not be sent
	}{
		{
			name:       "with account id",
			serverOpts: []sat.Option{sat.WithAccountID(accountID)},
			req:        request(),
			wantHeader: http.Header{
				"Auth":       {passThrough},
				"Accountid":  {accountID},
				"Accept":     {"application/json"},
				"User-Agent": {"smartassist-bridge"},
			},
		},
		{
			name: "without account id",
			req: smartassist.Request{
				StreamID: streamID, ConversationID: conversationID, Auth: passThrough,
			},
			wantHeader: http.Header{"Auth": {passThrough}},
			wantAbsent: []string{"Accountid"},
		},
		{
			name: "only allow-listed forward headers",
			req: func() smartassist.Request {
				r := request()
				r.Forward = http.Header{
					"X-Request-Id":  {"req-42"},
					"Traceparent":   {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
					"tracestate":    {"congo=t61rcWkgMzE"}, // not canonical: still copied
					"Baggage":       {"userId=alice", "tier=gold"},
					"Authorization": {"Bearer must-not-leak"},
					"Cookie":        {"session=must-not-leak"},
					"X-Other":       {"nope"},
					"Auth":          {"must-not-override"},
				}
				return r
			}(),
			wantHeader: http.Header{
				"Auth":         {passThrough},
				"X-Request-Id": {"req-42"},
				"Traceparent":  {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
				"Tracestate":   {"congo=t61rcWkgMzE"},
				"Baggage":      {"userId=alice", "tier=gold"},
			},
			wantAbsent: []string{"Authorization", "Cookie", "X-Other"},
		},
		{
			name: "forward values with control characters dropped",
			req: func() smartassist.Request {
				r := request()
				r.Forward = http.Header{"X-Request-Id": {"ok-1", "bad\r\nX-Injected: 1"}}
				return r
			}(),
			wantHeader: http.Header{"X-Request-Id": {"ok-1"}},
			wantAbsent: []string{"X-Injected"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := append([]sat.Option{
				sat.WithPassThroughToken(passThrough),
				sat.WithConversation(streamID, conversationID, conversationBody),
			}, tt.serverOpts...)
			srv := sat.NewServer(t, opts...)
			c := newClient(t, srv, nil)

			got, err := c.GetConversation(t.Context(), tt.req)
			if err != nil {
				t.Fatalf("GetConversation: %v", err)
			}
			if !bytes.Equal(got, conversationBody) {
				t.Errorf("body = %s, want %s", got, conversationBody)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("server got %d requests, want 1", len(reqs))
			}
			if reqs[0].Method != http.MethodGet || reqs[0].Path != wantPath {
				t.Errorf("request = %s %s, want GET %s", reqs[0].Method, reqs[0].Path, wantPath)
			}
			for name, want := range tt.wantHeader {
				if diff := cmp.Diff(want, reqs[0].Header.Values(name)); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", name, diff)
				}
			}
			for _, name := range tt.wantAbsent {
				if v := reqs[0].Header.Values(name); len(v) > 0 {
					t.Errorf("header %s = %q, want absent", name, v)
				}
			}
		})
	}
}

func TestGetConversationBaseURLPathPrefix(t *testing.T) {
	t.Parallel()
	srv := sat.NewServer(t)
	c := newClient(t, srv, func(cfg *smartassist.Config) { cfg.BaseURL = srv.URL + "/proxy/" })
	_, _ = c.GetConversation(t.Context(), request()) // the fake serves no prefix: 404
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/proxy"+wantPath {
		t.Errorf("requests = %+v, want one to /proxy%s", reqs, wantPath)
	}
}

func TestGetConversationStatus(t *testing.T) {
	t.Parallel()
	errBody := func(msg, code string) []byte {
		return []byte(`{"errors":[{"msg":"` + msg + `","code":` + code + `}]}`)
	}
	status := func(code int) sat.Response { return sat.Response{Status: code} }
	httpDate := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)

	tests := []struct {
		name       string
		serverOpts []sat.Option
		script     []sat.Response
		auth       string // default: passThrough
		convID     string // default: conversationID
		maxAttempt int
		wantBody   []byte
		want       *smartassist.Error // compared without Err and RetryAfter
		// Bounds on Error.RetryAfter; both zero means it must be zero.
		retryAfterMin, retryAfterMax time.Duration
		wantHits                     int
	}{
		{
			name:     "400 not retried",
			script:   []sat.Response{{Status: 400, Body: errBody("Invalid stream", `"400"`)}},
			want:     &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: 400, UpstreamCode: "400", UpstreamMsg: "Invalid stream", Attempts: 1},
			wantHits: 1,
		},
		{
			name:       "401 from token check",
			serverOpts: []sat.Option{sat.WithSecret(clientID, secret)},
			auth:       "not-the-right-token",
			want:       &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: 401, UpstreamCode: "401", UpstreamMsg: "invalid token", Attempts: 1},
			wantHits:   1,
		},
		{
			name:       "403 account mismatch",
			serverOpts: []sat.Option{sat.WithAccountID("acc-other")},
			want:       &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: 403, UpstreamCode: "403", UpstreamMsg: "Account mismatch", Attempts: 1},
			wantHits:   1,
		},
		{
			name:     "404 unknown conversation",
			convID:   "c-missing",
			want:     &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: 404, UpstreamCode: "404", UpstreamMsg: "Conversation not found", Attempts: 1},
			wantHits: 1,
		},
		{
			name:     "409 with numeric code",
			script:   []sat.Response{{Status: 409, Body: errBody("Conflict", `409`)}},
			want:     &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: 409, UpstreamCode: "409", UpstreamMsg: "Conflict", Attempts: 1},
			wantHits: 1,
		},
		{
			name:          "429 Retry-After seconds",
			script:        []sat.Response{{Status: 429, Header: http.Header{"Retry-After": {"7"}}}},
			maxAttempt:    1,
			want:          &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: 429, Attempts: 1},
			retryAfterMin: 7 * time.Second, retryAfterMax: 7 * time.Second,
			wantHits: 1,
		},
		{
			name:          "429 Retry-After HTTP-date",
			script:        []sat.Response{{Status: 429, Header: http.Header{"Retry-After": {httpDate}}}},
			maxAttempt:    1,
			want:          &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: 429, Attempts: 1},
			retryAfterMin: 20 * time.Second, retryAfterMax: 30 * time.Second,
			wantHits: 1,
		},
		{
			name:     "429 retried then success",
			script:   []sat.Response{{Status: 429, Header: http.Header{"Retry-After": {"0"}}}},
			wantBody: conversationBody,
			wantHits: 2,
		},
		{
			name:     "500 not retried",
			script:   []sat.Response{{Status: 500, Body: errBody("Internal error", `"500"`)}},
			want:     &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: 500, UpstreamCode: "500", UpstreamMsg: "Internal error", Attempts: 1},
			wantHits: 1,
		},
		{name: "408 retried then success", script: []sat.Response{status(408)}, wantBody: conversationBody, wantHits: 2},
		{name: "502 retried then success", script: []sat.Response{status(502)}, wantBody: conversationBody, wantHits: 2},
		{name: "503 retried then success", script: []sat.Response{status(503), status(503)}, wantBody: conversationBody, wantHits: 3},
		{name: "504 retried then success", script: []sat.Response{status(504)}, wantBody: conversationBody, wantHits: 2},
		{
			name:     "504 until default MaxAttempts",
			script:   []sat.Response{status(504), status(504), status(504), status(504)},
			want:     &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: 504, Attempts: 3},
			wantHits: 3,
		},
		{
			name:       "503 until MaxAttempts 5",
			script:     []sat.Response{status(503), status(503), status(503), status(503), status(503), status(503)},
			maxAttempt: 5,
			want:       &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: 503, Attempts: 5},
			wantHits:   5,
		},
		{
			name:     "redirect not followed",
			script:   []sat.Response{{Status: 302, Header: http.Header{"Location": {"/agentassist/api/v1/public/st-1/conversations/c-2"}}}},
			want:     &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: 302, Attempts: 1},
			wantHits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := append([]sat.Option{
				sat.WithPassThroughToken(passThrough),
				sat.WithConversation(streamID, conversationID, conversationBody),
			}, tt.serverOpts...)
			srv := sat.NewServer(t, opts...)
			srv.Script(conversationID, tt.script...)
			c := newClient(t, srv, func(cfg *smartassist.Config) { cfg.MaxAttempts = tt.maxAttempt })
			req := request()
			if tt.auth != "" {
				req.Auth = tt.auth
			}
			if tt.convID != "" {
				req.ConversationID = tt.convID
			}

			got, err := c.GetConversation(t.Context(), req)

			if tt.want == nil {
				if err != nil {
					t.Fatalf("GetConversation: %v", err)
				}
				if !bytes.Equal(got, tt.wantBody) {
					t.Errorf("body = %s, want %s", got, tt.wantBody)
				}
			} else {
				e := asError(t, err)
				if got != nil {
					t.Errorf("body = %q, want nil with an error", got)
				}
				if e.RetryAfter < tt.retryAfterMin || e.RetryAfter > tt.retryAfterMax {
					t.Errorf("RetryAfter = %s, want in [%s, %s]", e.RetryAfter, tt.retryAfterMin, tt.retryAfterMax)
				}
				if diff := cmp.Diff(tt.want, e, cmpopts.IgnoreFields(smartassist.Error{}, "Err", "RetryAfter")); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
			}
			if hits := srv.Hits(); hits != tt.wantHits {
				t.Errorf("server hits = %d, want %d", hits, tt.wantHits)
			}
		})
	}
}

// TestGetConversationTransportFailures: a connection closed before the
// answer, and a 200 whose body is cut off mid-way (the server declares the
// full length, sends half and drops the connection), are transient:
// retried, and KindTransport once the attempts run out.
func TestGetConversationTransportFailures(t *testing.T) {
	t.Parallel()
	closed := sat.Response{CloseConn: true}
	cut := sat.Response{CutBody: true, Body: conversationBody}
	tests := []struct {
		name       string
		script     []sat.Response
		wantErr    bool
		wantStatus int   // HTTPStatus of the final error
		wantCause  error // what the final error wraps, if anything in particular
		wantHits   int
	}{
		{name: "closed once then success", script: []sat.Response{closed}, wantHits: 2},
		{name: "closed on every attempt", script: []sat.Response{closed, closed, closed}, wantErr: true, wantHits: 3},
		{name: "cut once then success", script: []sat.Response{cut}, wantHits: 2},
		{name: "cut on every attempt", script: []sat.Response{cut, cut, cut}, wantErr: true, wantStatus: 200, wantCause: io.ErrUnexpectedEOF, wantHits: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t, sat.WithConversation(streamID, conversationID, conversationBody))
			srv.Script(conversationID, tt.script...)
			c := newClient(t, srv, nil)

			got, err := c.GetConversation(t.Context(), request())

			if !tt.wantErr {
				if err != nil || !bytes.Equal(got, conversationBody) {
					t.Fatalf("GetConversation = %s, %v; want the conversation", got, err)
				}
			} else {
				e := asError(t, err)
				if e.Kind != smartassist.KindTransport || e.Attempts != 3 || e.HTTPStatus != tt.wantStatus || e.Err == nil ||
					tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
					t.Errorf("error = %v (%+v), want KindTransport after 3 attempts, HTTP status %d, wrapping %v",
						err, e, tt.wantStatus, tt.wantCause)
				}
			}
			if hits := srv.Hits(); hits != tt.wantHits {
				t.Errorf("server hits = %d, want %d", hits, tt.wantHits)
			}
		})
	}
}

func TestGetConversationConnectionRefused(t *testing.T) {
	t.Parallel()
	// A loopback port that was just free: nothing listens on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	c, err := smartassist.New(smartassist.Config{
		BaseURL: "http://" + addr, MaxAttempts: 2,
		BackoffBase: time.Millisecond, BackoffMax: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	_, err = c.GetConversation(t.Context(), request())
	e := asError(t, err)
	if e.Kind != smartassist.KindTransport || e.Attempts != 2 {
		t.Errorf("error = %v, want KindTransport after 2 attempts", err)
	}
}

func TestGetConversationRetryNeverOutlivesDeadline(t *testing.T) {
	t.Parallel()
	// Far shorter than Retry-After (10s), far longer than one local call.
	const budget = 2 * time.Second
	tests := []struct {
		name    string
		status  int
		timeout time.Duration // Config.Timeout; 0 uses a context deadline
	}{
		{name: "503 context deadline", status: 503},
		{name: "503 Config.Timeout", status: 503, timeout: budget},
		{name: "429 context deadline", status: 429},
		{name: "429 Config.Timeout", status: 429, timeout: budget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t, sat.WithConversation(streamID, conversationID, conversationBody))
			srv.Script(conversationID, sat.Response{Status: tt.status, Header: http.Header{"Retry-After": {"10"}}})
			c := newClient(t, srv, func(cfg *smartassist.Config) {
				if tt.timeout != 0 {
					cfg.Timeout = tt.timeout
				}
			})
			ctx := t.Context()
			if tt.timeout == 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, budget)
				defer cancel()
			}

			start := time.Now()
			_, err := c.GetConversation(ctx, request())
			elapsed := time.Since(start)

			e := asError(t, err)
			want := &smartassist.Error{Op: "get conversation", Kind: smartassist.KindStatus, HTTPStatus: tt.status, RetryAfter: 10 * time.Second, Attempts: 1}
			if diff := cmp.Diff(want, e, cmpopts.IgnoreFields(smartassist.Error{}, "Err")); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if elapsed > budget {
				t.Errorf("returned after %s, want before the %s deadline", elapsed, budget)
			}
			if hits := srv.Hits(); hits != 1 {
				t.Errorf("server hits = %d, want 1", hits)
			}
		})
	}
}

func TestGetConversationRetryDelay(t *testing.T) {
	t.Parallel()
	// Each case cancels the call from the Retry hook, so the chosen delay is
	// observed without being slept.
	tests := []struct {
		name       string
		status     int
		retryAfter string
		wantMin    time.Duration
		wantMax    time.Duration
	}{
		{name: "503 honours longer Retry-After", status: 503, retryAfter: "2", wantMin: 2 * time.Second, wantMax: 2 * time.Second},
		{name: "429 honours longer Retry-After", status: 429, retryAfter: "3", wantMin: 3 * time.Second, wantMax: 3 * time.Second},
		{name: "502 ignores Retry-After", status: 502, retryAfter: "3", wantMin: 0, wantMax: 4 * time.Millisecond},
		{name: "503 without Retry-After uses backoff", status: 503, wantMin: 0, wantMax: 4 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t)
			resp := sat.Response{Status: tt.status, Header: http.Header{}}
			if tt.retryAfter != "" {
				resp.Header.Set("Retry-After", tt.retryAfter)
			}
			srv.Script(conversationID, resp)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var delays []time.Duration
			c := newClient(t, srv, func(cfg *smartassist.Config) {
				cfg.Hooks.Retry = func(d time.Duration) {
					delays = append(delays, d)
					cancel()
				}
			})

			_, err := c.GetConversation(ctx, request())

			if e := asError(t, err); e.Kind != smartassist.KindCanceled || !errors.Is(err, context.Canceled) {
				t.Errorf("error = %v, want KindCanceled", err)
			}
			if len(delays) != 1 || delays[0] < tt.wantMin || delays[0] > tt.wantMax {
				t.Errorf("retry delays = %v, want one in [%s, %s]", delays, tt.wantMin, tt.wantMax)
			}
		})
	}
}

func TestGetConversationTimeout(t *testing.T) {
	t.Parallel()
	const budget = 100 * time.Millisecond
	tests := []struct {
		name        string
		cfgTimeout  time.Duration
		ctxDeadline time.Duration
	}{
		{name: "Config.Timeout", cfgTimeout: budget},
		{name: "context deadline sooner than Config.Timeout", cfgTimeout: time.Minute, ctxDeadline: budget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t)
			srv.Script(conversationID, sat.Response{Delay: time.Minute})
			c := newClient(t, srv, func(cfg *smartassist.Config) { cfg.Timeout = tt.cfgTimeout })
			ctx := t.Context()
			if tt.ctxDeadline != 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxDeadline)
				defer cancel()
			}

			start := time.Now()
			_, err := c.GetConversation(ctx, request())

			e := asError(t, err)
			if e.Kind != smartassist.KindTimeout || e.Attempts != 1 {
				t.Errorf("error = %v, want KindTimeout after 1 attempt", err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false", err)
			}
			if elapsed := time.Since(start); elapsed > 5*budget {
				t.Errorf("returned after %s, want about %s", elapsed, budget)
			}
		})
	}
}

func TestGetConversationCanceled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		cancelAfter  time.Duration // < 0: canceled before the call
		wantAttempts int
		wantHits     int
	}{
		{name: "during the request", cancelAfter: 50 * time.Millisecond, wantAttempts: 1, wantHits: 1},
		{name: "before the call", cancelAfter: -1, wantAttempts: 0, wantHits: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t)
			srv.Script(conversationID, sat.Response{Delay: time.Minute})
			c := newClient(t, srv, nil)
			ctx, cancel := context.WithCancel(t.Context())
			if tt.cancelAfter < 0 {
				cancel()
			} else {
				timer := time.AfterFunc(tt.cancelAfter, cancel)
				defer timer.Stop()
			}
			defer cancel()

			_, err := c.GetConversation(ctx, request())

			e := asError(t, err)
			if e.Kind != smartassist.KindCanceled || e.Attempts != tt.wantAttempts || !errors.Is(err, context.Canceled) {
				t.Errorf("error = %v, want KindCanceled after %d attempts wrapping context.Canceled", err, tt.wantAttempts)
			}
			if hits := srv.Hits(); hits != tt.wantHits {
				t.Errorf("server hits = %d, want %d", hits, tt.wantHits)
			}
		})
	}
}

func TestGetConversationBodyLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    []byte
		limit   int64
		wantErr bool
	}{
		{name: "at the limit", body: bytes.Repeat([]byte("x"), 16), limit: 16},
		{name: "one byte over, Content-Length", body: bytes.Repeat([]byte("x"), 17), limit: 16, wantErr: true},
		// Large enough that net/http streams it chunked, without a
		// Content-Length, so the LimitReader is what stops it.
		{name: "far over, chunked", body: bytes.Repeat([]byte("x"), 256<<10), limit: 1 << 10, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t, sat.WithConversation(streamID, conversationID, tt.body))
			c := newClient(t, srv, func(cfg *smartassist.Config) { cfg.MaxBodyBytes = tt.limit })

			got, err := c.GetConversation(t.Context(), request())

			if !tt.wantErr {
				if err != nil || !bytes.Equal(got, tt.body) {
					t.Fatalf("GetConversation = %d bytes, %v; want the %d-byte body", len(got), err, len(tt.body))
				}
				return
			}
			e := asError(t, err)
			if e.Kind != smartassist.KindBodyTooLarge || e.HTTPStatus != 200 || e.Attempts != 1 {
				t.Errorf("error = %v, want KindBodyTooLarge for a 200 after 1 attempt", err)
			}
		})
	}
}

func TestGetConversationUpstreamErrorBody(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 300)
	tests := []struct {
		name     string
		body     string
		wantCode string
		wantMsg  string
	}{
		{name: "string code", body: `{"errors":[{"msg":"Bad stream","code":"SA_1001"}]}`, wantCode: "SA_1001", wantMsg: "Bad stream"},
		{name: "numeric code", body: `{"errors":[{"msg":"Unauthorized","code":401}]}`, wantCode: "401", wantMsg: "Unauthorized"},
		{name: "exponent code", body: `{"errors":[{"code":4.04e2}]}`, wantCode: "404"},
		{name: "fractional code", body: `{"errors":[{"code":1.5}]}`, wantCode: "1.5"},
		{name: "null code", body: `{"errors":[{"msg":"only a message","code":null}]}`, wantMsg: "only a message"},
		{name: "first empty entry skipped", body: `{"errors":[{},{"msg":"second","code":"2"}]}`, wantCode: "2", wantMsg: "second"},
		{name: "empty errors", body: `{"errors":[]}`},
		{name: "other shape", body: `{"message":"nope"}`},
		{name: "not JSON", body: `<html>Bad Gateway</html>`},
		{name: "empty body", body: ``},
		{name: "long message truncated to 200 runes", body: `{"errors":[{"msg":"` + long + `"}]}`, wantMsg: strings.Repeat("é", 200)},
		{name: "echoed token redacted", body: `{"errors":[{"msg":"token ` + passThrough + ` is expired","code":"401"}]}`, wantCode: "401", wantMsg: "token [REDACTED] is expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t)
			srv.Script(conversationID, sat.Response{Status: 400, Body: []byte(tt.body)})
			c := newClient(t, srv, nil)

			_, err := c.GetConversation(t.Context(), request())

			e := asError(t, err)
			if e.UpstreamCode != tt.wantCode || e.UpstreamMsg != tt.wantMsg {
				t.Errorf("upstream code, msg = %q, %q; want %q, %q", e.UpstreamCode, e.UpstreamMsg, tt.wantCode, tt.wantMsg)
			}
			if strings.Contains(err.Error(), passThrough) {
				t.Errorf("Error() leaks the token: %s", err)
			}
		})
	}
}

func TestGetConversationInvalidRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mutate    func(*smartassist.Request)
		wantField string
	}{
		{name: "dot-dot path", mutate: func(r *smartassist.Request) { r.StreamID = "../x" }, wantField: "stream_id"},
		{name: "slash", mutate: func(r *smartassist.Request) { r.ConversationID = "a/b" }, wantField: "conversation_id"},
		{name: "query", mutate: func(r *smartassist.Request) { r.ConversationID = "a?b" }, wantField: "conversation_id"},
		{name: "fragment", mutate: func(r *smartassist.Request) { r.ConversationID = "a#b" }, wantField: "conversation_id"},
		{name: "escaped dots", mutate: func(r *smartassist.Request) { r.StreamID = "%2e%2e" }, wantField: "stream_id"},
		{name: "dot", mutate: func(r *smartassist.Request) { r.StreamID = "." }, wantField: "stream_id"},
		{name: "dot dot", mutate: func(r *smartassist.Request) { r.ConversationID = ".." }, wantField: "conversation_id"},
		{name: "empty stream", mutate: func(r *smartassist.Request) { r.StreamID = "" }, wantField: "stream_id"},
		{name: "empty conversation", mutate: func(r *smartassist.Request) { r.ConversationID = "" }, wantField: "conversation_id"},
		{name: "129 characters", mutate: func(r *smartassist.Request) { r.ConversationID = strings.Repeat("a", 129) }, wantField: "conversation_id"},
		{name: "unicode", mutate: func(r *smartassist.Request) { r.StreamID = "strëam" }, wantField: "stream_id"},
		{name: "bad account id", mutate: func(r *smartassist.Request) { r.AccountID = "acc 1" }, wantField: "account_id"},
		{name: "auth with CRLF", mutate: func(r *smartassist.Request) { r.Auth = "tok\r\nX-Evil: 1" }, wantField: "auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t)
			c := newClient(t, srv, nil)
			req := request()
			tt.mutate(&req)

			_, err := c.GetConversation(t.Context(), req)

			e := asError(t, err)
			if e.Kind != smartassist.KindInvalidRequest || e.Attempts != 0 {
				t.Errorf("error = %v, want KindInvalidRequest with 0 attempts", err)
			}
			if !strings.Contains(err.Error(), tt.wantField+":") {
				t.Errorf("Error() = %q, want it to name %s", err, tt.wantField)
			}
			if hits := srv.Hits(); hits != 0 {
				t.Errorf("server hits = %d, want 0", hits)
			}
		})
	}
}

func TestGetConversationCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		tokens   smartassist.TokenSource
		auth     string
		wantKind smartassist.Kind // 0: success
		wantHits int
	}{
		{name: "neither auth nor token source", wantKind: smartassist.KindNoCredentials},
		{name: "token source fails", tokens: &smartassist.ClientCredentials{ClientID: clientID}, wantKind: smartassist.KindTokenSource},
		{name: "token source returns empty token", tokens: tokenFunc(func(context.Context) (string, error) { return "", nil }), wantKind: smartassist.KindTokenSource},
		{name: "token source returns a token with CRLF", tokens: tokenFunc(func(context.Context) (string, error) { return "tok\r\nX: 1", nil }), wantKind: smartassist.KindTokenSource},
		{name: "token source", tokens: &smartassist.ClientCredentials{ClientID: clientID, Secret: secret}, wantHits: 1},
		{name: "pass-through auth wins over token source", tokens: &smartassist.ClientCredentials{ClientID: clientID, Secret: []byte("wrong")}, auth: passThrough, wantHits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t,
				sat.WithSecret(clientID, secret),
				sat.WithPassThroughToken(passThrough),
				sat.WithConversation(streamID, conversationID, conversationBody),
			)
			c := newClient(t, srv, func(cfg *smartassist.Config) { cfg.Tokens = tt.tokens })
			req := request()
			req.Auth = tt.auth

			got, err := c.GetConversation(t.Context(), req)

			if tt.wantKind == 0 {
				if err != nil || !bytes.Equal(got, conversationBody) {
					t.Errorf("GetConversation = %s, %v; want the conversation", got, err)
				}
			} else if e := asError(t, err); e.Kind != tt.wantKind {
				t.Errorf("error = %v, want kind %s", err, tt.wantKind)
			}
			if hits := srv.Hits(); hits != tt.wantHits {
				t.Errorf("server hits = %d, want %d", hits, tt.wantHits)
			}
			if tt.auth != "" && tt.wantHits > 0 {
				if got := srv.Requests()[0].Header.Get("auth"); got != tt.auth {
					t.Errorf("auth header = %q, want the pass-through token", got)
				}
			}
		})
	}
}

// tokenFunc adapts a function to smartassist.TokenSource.
type tokenFunc func(context.Context) (string, error)

func (f tokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

func TestGetConversationHooks(t *testing.T) {
	t.Parallel()
	srv := sat.NewServer(t, sat.WithConversation(streamID, conversationID, conversationBody))
	srv.Script(conversationID, sat.Response{CloseConn: true}, sat.Response{Status: 503})

	type attempt struct {
		Status int
		Err    bool
	}
	var (
		mu       sync.Mutex
		attempts []attempt
		retries  []time.Duration
	)
	c := newClient(t, srv, func(cfg *smartassist.Config) {
		cfg.Hooks = smartassist.Hooks{
			Attempt: func(status int, elapsed time.Duration, err error) {
				mu.Lock()
				defer mu.Unlock()
				attempts = append(attempts, attempt{status, err != nil})
				if elapsed <= 0 {
					t.Errorf("Attempt elapsed = %s, want > 0", elapsed)
				}
			},
			Retry: func(d time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				retries = append(retries, d)
			},
		}
	})

	if _, err := c.GetConversation(t.Context(), request()); err != nil {
		t.Fatalf("GetConversation: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []attempt{{0, true}, {503, true}, {200, false}}
	if diff := cmp.Diff(want, attempts); diff != "" {
		t.Errorf("Attempt calls (-want +got):\n%s", diff)
	}
	if len(retries) != 2 {
		t.Errorf("Retry calls = %v, want 2", retries)
	}
	for _, d := range retries {
		if d < 0 || d > 4*time.Millisecond {
			t.Errorf("retry delay %s outside [0, BackoffMax]", d)
		}
	}
}

func TestErrorNeverLeaksCredentials(t *testing.T) {
	t.Parallel()
	type scenario struct {
		name   string
		tokens smartassist.TokenSource
		auth   string
		script []sat.Response
		ctx    func(context.Context) (context.Context, context.CancelFunc)
	}
	echo := sat.Response{Status: 401, Body: []byte(`{"errors":[{"msg":"bad auth ` + passThrough + `","code":"401"}]}`)}
	tests := []scenario{
		{name: "minted token rejected", tokens: &smartassist.ClientCredentials{ClientID: "other-app", Secret: secret}},
		{name: "pass-through token echoed", auth: passThrough, script: []sat.Response{echo}},
		{name: "transport error", auth: passThrough, script: []sat.Response{{CloseConn: true}, {CloseConn: true}, {CloseConn: true}}},
		{name: "timeout", tokens: &smartassist.ClientCredentials{ClientID: clientID, Secret: secret},
			script: []sat.Response{{Delay: time.Minute}},
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 50*time.Millisecond)
			}},
		{name: "token source error", tokens: &smartassist.ClientCredentials{Secret: secret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t, sat.WithSecret(clientID, secret), sat.WithPassThroughToken(passThrough))
			srv.Script(conversationID, tt.script...)
			c := newClient(t, srv, func(cfg *smartassist.Config) { cfg.Tokens = tt.tokens })
			req := request()
			req.Auth = tt.auth
			ctx := t.Context()
			if tt.ctx != nil {
				var cancel context.CancelFunc
				ctx, cancel = tt.ctx(ctx)
				defer cancel()
			}

			_, err := c.GetConversation(ctx, req)
			if err == nil {
				t.Fatal("GetConversation succeeded, want an error")
			}

			secrets := []string{string(secret), passThrough}
			for _, r := range srv.Requests() {
				secrets = append(secrets, r.Header.Get("auth"))
			}
			for _, rendered := range []string{err.Error(), fmtV(err)} {
				for _, s := range secrets {
					if s != "" && strings.Contains(rendered, s) {
						t.Errorf("error text %q contains credential %q", rendered, s)
					}
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     smartassist.Config
		wantErr string // substring; empty means success
	}{
		{name: "http", cfg: smartassist.Config{BaseURL: "http://127.0.0.1:8080"}},
		{name: "https with prefix", cfg: smartassist.Config{BaseURL: "https://smartassist.example/prefix/"}},
		{name: "empty", cfg: smartassist.Config{}, wantErr: "BaseURL is required"},
		{name: "no scheme", cfg: smartassist.Config{BaseURL: "smartassist.example"}, wantErr: "scheme must be http or https"},
		{name: "ftp", cfg: smartassist.Config{BaseURL: "ftp://smartassist.example"}, wantErr: "scheme must be http or https"},
		{name: "no host", cfg: smartassist.Config{BaseURL: "http:///path"}, wantErr: "host required"},
		{name: "query", cfg: smartassist.Config{BaseURL: "http://h/?a=b"}, wantErr: "must not have a query"},
		{name: "fragment", cfg: smartassist.Config{BaseURL: "http://h/#f"}, wantErr: "must not have a fragment"},
		{name: "user info", cfg: smartassist.Config{BaseURL: "http://user:hunter2@h/"}, wantErr: "must not contain user info"},
		{name: "unparsable with password", cfg: smartassist.Config{BaseURL: "http://user:hunter2@h/%zz"}, wantErr: "not a valid URL"},
		{name: "negative timeout", cfg: smartassist.Config{BaseURL: "http://h", Timeout: -1}, wantErr: "Timeout"},
		{name: "negative body limit", cfg: smartassist.Config{BaseURL: "http://h", MaxBodyBytes: -1}, wantErr: "MaxBodyBytes"},
		{name: "negative attempts", cfg: smartassist.Config{BaseURL: "http://h", MaxAttempts: -1}, wantErr: "MaxAttempts"},
		{name: "negative backoff", cfg: smartassist.Config{BaseURL: "http://h", BackoffBase: -1}, wantErr: "BackoffBase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := smartassist.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("New error %q leaks the BaseURL password", err)
			}
		})
	}
}

func TestGetConversationReusesConnections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script []sat.Response
	}{
		{name: "after errors with bodies", script: []sat.Response{
			{Status: 404, Body: []byte(`{"errors":[{"msg":"Conversation not found","code":"404"}]}`)},
			{Status: 500, Body: bytes.Repeat([]byte("x"), 100<<10)}, // larger than the error read limit
		}},
		{name: "after retried statuses", script: []sat.Response{{Status: 503}, {Status: 502, Body: []byte("<html>bad gateway</html>")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t, sat.WithConversation(streamID, conversationID, conversationBody))
			srv.Script(conversationID, tt.script...)
			c := newClient(t, srv, func(cfg *smartassist.Config) { cfg.MaxAttempts = 1 })
			var reused []bool
			ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
				GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) },
			})

			for range len(tt.script) + 1 {
				_, _ = c.GetConversation(ctx, request())
			}

			want := make([]bool, len(tt.script)+1)
			for i := 1; i < len(want); i++ {
				want[i] = true
			}
			if diff := cmp.Diff(want, reused); diff != "" {
				t.Errorf("connection reused per call (-want +got):\n%s", diff)
			}
		})
	}
}
