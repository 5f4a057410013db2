package smartassisttest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	clientID = "cs-test-app"
	convPath = "/agentassist/api/v1/public/st-1/conversations/c-1"
)

var secret = []byte("fake-secret-for-tests")

// sign returns an HS256 token with claims, signed with key.
func sign(t *testing.T, key []byte, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// httpClient returns a client whose idle connections are closed at cleanup,
// so goleak sees no stray connection goroutines.
func httpClient(t *testing.T) *http.Client {
	t.Helper()
	c := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// get sends a request and returns the status and body.
func get(t *testing.T, c *http.Client, method, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestServerChecks(t *testing.T) {
	t.Parallel()
	now := time.Now()
	valid := jwt.MapClaims{"appId": clientID, "sub": clientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	without := func(key string) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range valid {
			if k != key {
				c[k] = v
			}
		}
		return c
	}
	const (
		body         = `{"conversationId":"c-1"}`
		invalidToken = `{"errors":[{"msg":"invalid token","code":"401"}]}`
	)
	tests := []struct {
		name       string
		method     string
		path       string
		auth       string
		accountID  string
		wantStatus int
		wantBody   string
	}{
		{name: "valid jwt", path: convPath, auth: sign(t, secret, valid), accountID: "acc-1", wantStatus: 200, wantBody: body},
		{name: "pass-through token", path: convPath, auth: "pass-through", accountID: "acc-1", wantStatus: 200, wantBody: body},
		{name: "missing auth", path: convPath, accountID: "acc-1", wantStatus: 401, wantBody: `{"errors":[{"msg":"auth header missing","code":"401"}]}`},
		{name: "wrong secret", path: convPath, auth: sign(t, []byte("other"), valid), accountID: "acc-1", wantStatus: 401, wantBody: invalidToken},
		{name: "wrong appId", path: convPath, auth: sign(t, secret, jwt.MapClaims{"appId": "other", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}), accountID: "acc-1", wantStatus: 401, wantBody: invalidToken},
		{name: "expired", path: convPath, auth: sign(t, secret, jwt.MapClaims{"appId": clientID, "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}), accountID: "acc-1", wantStatus: 401, wantBody: invalidToken},
		{name: "no exp", path: convPath, auth: sign(t, secret, without("exp")), accountID: "acc-1", wantStatus: 401, wantBody: invalidToken},
		{name: "no iat", path: convPath, auth: sign(t, secret, without("iat")), accountID: "acc-1", wantStatus: 401, wantBody: invalidToken},
		{name: "garbage token", path: convPath, auth: "not-a-jwt", accountID: "acc-1", wantStatus: 401, wantBody: invalidToken},
		{name: "account mismatch", path: convPath, auth: "pass-through", accountID: "acc-2", wantStatus: 403, wantBody: `{"errors":[{"msg":"Account mismatch","code":"403"}]}`},
		{name: "account missing", path: convPath, auth: "pass-through", wantStatus: 403, wantBody: `{"errors":[{"msg":"Account mismatch","code":"403"}]}`},
		{name: "unknown conversation", path: "/agentassist/api/v1/public/st-1/conversations/c-2", auth: "pass-through", accountID: "acc-1", wantStatus: 404, wantBody: `{"errors":[{"msg":"Conversation not found","code":"404"}]}`},
		{name: "unknown path", path: "/agentassist/api/v1/public/st-1/c-1", auth: "pass-through", accountID: "acc-1", wantStatus: 404, wantBody: `{"errors":[{"msg":"Not found","code":"404"}]}`},
		{name: "wrong method", method: http.MethodPost, path: convPath, auth: "pass-through", accountID: "acc-1", wantStatus: 405, wantBody: `{"errors":[{"msg":"Method not allowed","code":"405"}]}`},
	}
	srv := smartassisttest.NewServer(t,
		smartassisttest.WithSecret(clientID, secret),
		smartassisttest.WithPassThroughToken("pass-through"),
		smartassisttest.WithAccountID("acc-1"),
		smartassisttest.WithConversation("st-1", "c-1", []byte(body)),
	)
	c := httpClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.auth != "" {
				h.Set("auth", tt.auth)
			}
			if tt.accountID != "" {
				h.Set("accountId", tt.accountID)
			}
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			status, got := get(t, c, method, srv.URL+tt.path, h)
			if status != tt.wantStatus || got != tt.wantBody {
				t.Errorf("got %d %s, want %d %s", status, got, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestServerAcceptsAnyTokenByDefault(t *testing.T) {
	t.Parallel()
	srv := smartassisttest.NewServer(t, smartassisttest.WithConversation("st-1", "c-1", []byte(`{}`)))
	c := httpClient(t)
	if status, _ := get(t, c, http.MethodGet, srv.URL+convPath, http.Header{"Auth": {"anything"}}); status != 200 {
		t.Errorf("status = %d, want 200", status)
	}
	if status, _ := get(t, c, http.MethodGet, srv.URL+convPath, nil); status != 401 {
		t.Errorf("without auth: status = %d, want 401", status)
	}
}

func TestServerScriptAndRecording(t *testing.T) {
	t.Parallel()
	srv := smartassisttest.NewServer(t, smartassisttest.WithConversation("st-1", "c-1", []byte(`{"ok":true}`)))
	srv.Script("c-1",
		smartassisttest.Response{Status: 503, Body: []byte(`{"errors":[]}`), Header: http.Header{"Retry-After": {"3"}}},
		smartassisttest.Response{CloseConn: true},
	)
	// Without keep-alive every request has a fresh connection: net/http
	// silently resends a GET whose reused connection is closed, which would
	// hide the scripted CloseConn.
	c := httpClient(t)
	c.Transport.(*http.Transport).DisableKeepAlives = true
	h := http.Header{"Auth": {"tok"}, "X-Request-Id": {"r-1"}}

	if status, body := get(t, c, http.MethodGet, srv.URL+convPath, h); status != 503 || body != `{"errors":[]}` {
		t.Errorf("first: got %d %s, want scripted 503", status, body)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+convPath, nil)
	req.Header = h
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("second: got %d, want a closed connection", resp.StatusCode)
	}
	if status, body := get(t, c, http.MethodGet, srv.URL+convPath, h); status != 200 || body != `{"ok":true}` {
		t.Errorf("third: got %d %s, want the conversation", status, body)
	}
	_, _ = get(t, c, http.MethodGet, srv.URL+"/agentassist/api/v1/public/st%2D1/conversations/c-1", h)

	if got := srv.Hits(); got != 4 {
		t.Errorf("Hits() = %d, want 4", got)
	}
	var gotPaths []string
	for _, r := range srv.Requests() {
		gotPaths = append(gotPaths, r.Method+" "+r.Path)
		if r.Header.Get("X-Request-Id") != "r-1" {
			t.Errorf("recorded header X-Request-Id = %q, want r-1", r.Header.Get("X-Request-Id"))
		}
	}
	wantPaths := []string{"GET " + convPath, "GET " + convPath, "GET " + convPath, "GET /agentassist/api/v1/public/st%2D1/conversations/c-1"}
	if diff := cmp.Diff(wantPaths, gotPaths); diff != "" {
		t.Errorf("recorded paths (-want +got):\n%s", diff)
	}
}

func TestServerDelayStopsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	srv := smartassisttest.NewServer(t)
	srv.Script("c-1", smartassisttest.Response{Delay: time.Minute})
	c := httpClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+convPath, nil)
	start := time.Now()
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	// Cleanup closes the server, which waits for the handler: if Delay
	// ignored the client, the test would take a minute.
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s", elapsed)
	}
}
