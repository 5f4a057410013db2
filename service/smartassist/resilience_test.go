package smartassist_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	sat "github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

// attemptLog records Hooks.Attempt calls.
type attemptLog struct {
	mu    sync.Mutex
	kinds []smartassist.Kind // 0 for a successful attempt
}

func (l *attemptLog) hook(_ int, _ time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var k smartassist.Kind
	if e, ok := errors.AsType[*smartassist.Error](err); ok {
		k = e.Kind
	}
	l.kinds = append(l.kinds, k)
}

func (l *attemptLog) get() []smartassist.Kind {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]smartassist.Kind(nil), l.kinds...)
}

func TestGetConversationHungAttemptRetried(t *testing.T) {
	t.Parallel()
	hung := sat.Response{Delay: time.Minute}
	// Long enough for a normal answer on a loaded machine, far below Timeout.
	const attemptTimeout = 500 * time.Millisecond
	tests := []struct {
		name         string
		script       []sat.Response
		wantAttempts []smartassist.Kind
		wantErr      bool
	}{
		{
			name:         "first attempt hangs, second answers",
			script:       []sat.Response{hung},
			wantAttempts: []smartassist.Kind{smartassist.KindTimeout, 0},
		},
		{
			name:         "every attempt hangs",
			script:       []sat.Response{hung, hung, hung},
			wantAttempts: []smartassist.Kind{smartassist.KindTimeout, smartassist.KindTimeout, smartassist.KindTimeout},
			wantErr:      true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t, sat.WithConversation(streamID, conversationID, conversationBody))
			srv.Script(conversationID, tt.script...)
			var log attemptLog
			c := newClient(t, srv, func(cfg *smartassist.Config) {
				cfg.Timeout = 5 * time.Second
				cfg.AttemptTimeout = attemptTimeout
				cfg.Hooks.Attempt = log.hook
			})

			start := time.Now()
			got, err := c.GetConversation(t.Context(), request())
			elapsed := time.Since(start)

			if !tt.wantErr {
				if err != nil || !bytes.Equal(got, conversationBody) {
					t.Fatalf("GetConversation = %s, %v; want the conversation", got, err)
				}
			} else {
				e := asError(t, err)
				if e.Kind != smartassist.KindTimeout || e.Attempts != 3 || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error = %v, want KindTimeout after 3 attempts wrapping context.DeadlineExceeded", err)
				}
			}
			if diff := cmp.Diff(tt.wantAttempts, log.get()); diff != "" {
				t.Errorf("attempt kinds (-want +got):\n%s", diff)
			}
			// Far below Timeout: the attempts were cut by AttemptTimeout.
			if max := time.Duration(len(tt.wantAttempts)+2) * attemptTimeout; elapsed > max+time.Second {
				t.Errorf("returned after %s, want about %s", elapsed, max)
			}
		})
	}
}

func TestAttemptTimeoutClampedToTimeout(t *testing.T) {
	t.Parallel()
	srv := sat.NewServer(t)
	srv.Script(conversationID, sat.Response{Delay: time.Minute})
	c := newClient(t, srv, func(cfg *smartassist.Config) {
		cfg.Timeout = 100 * time.Millisecond
		cfg.AttemptTimeout = time.Hour
	})
	start := time.Now()
	_, err := c.GetConversation(t.Context(), request())
	if e := asError(t, err); e.Kind != smartassist.KindTimeout {
		t.Errorf("error = %v, want KindTimeout", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("returned after %s, want about Timeout (100ms)", elapsed)
	}
}

func TestReauthenticateAfter401(t *testing.T) {
	t.Parallel()
	unauthorized := sat.Response{Status: 401, Body: []byte(`{"errors":[{"msg":"invalid token","code":"401"}]}`)}
	tests := []struct {
		name        string
		secret      []byte // the client's; the server's is secret
		script      []sat.Response
		maxAttempts int
		auth        string
		wantErr     bool
		wantHits    int
		wantMints   int32
	}{
		{name: "cached token refused once, fresh one accepted", secret: secret, script: []sat.Response{unauthorized}, maxAttempts: 3, wantHits: 2, wantMints: 2},
		{name: "even with MaxAttempts 1", secret: secret, script: []sat.Response{unauthorized}, maxAttempts: 1, wantHits: 2, wantMints: 2},
		{name: "wrong secret: one extra attempt only", secret: []byte("wrong"), maxAttempts: 3, wantErr: true, wantHits: 2, wantMints: 2},
		{name: "pass-through token not retried", secret: secret, auth: "caller-token", maxAttempts: 3, wantErr: true, wantHits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t, sat.WithSecret(clientID, secret), sat.WithConversation(streamID, conversationID, conversationBody))
			srv.Script(conversationID, tt.script...)
			var mints atomic.Int32
			creds := &smartassist.ClientCredentials{ClientID: clientID, Secret: tt.secret, OnMint: func() { mints.Add(1) }}
			c := newClient(t, srv, func(cfg *smartassist.Config) {
				cfg.Tokens = creds
				cfg.MaxAttempts = tt.maxAttempts
			})
			req := request()
			req.Auth = tt.auth

			got, err := c.GetConversation(t.Context(), req)

			if !tt.wantErr {
				if err != nil || !bytes.Equal(got, conversationBody) {
					t.Fatalf("GetConversation = %s, %v; want the conversation", got, err)
				}
			} else if e := asError(t, err); e.Kind != smartassist.KindStatus || e.HTTPStatus != 401 || e.Attempts != tt.wantHits {
				t.Errorf("error = %v, want HTTP 401 after %d attempts", err, tt.wantHits)
			}
			if hits := srv.Hits(); hits != tt.wantHits {
				t.Errorf("server hits = %d, want %d", hits, tt.wantHits)
			}
			if n := mints.Load(); n != tt.wantMints {
				t.Errorf("mints = %d, want %d", n, tt.wantMints)
			}
		})
	}
}

func TestClientCredentialsInvalidate(t *testing.T) {
	t.Parallel()
	var mints int
	creds := &smartassist.ClientCredentials{ClientID: clientID, Secret: secret, OnMint: func() { mints++ }}
	tok, err := creds.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		invalidate string
		wantMints  int
	}{
		{invalidate: "some-other-token", wantMints: 1}, // not the cached one: kept
		{invalidate: "", wantMints: 1},
		{invalidate: tok, wantMints: 2}, // the cached one: dropped, next Token mints
	}
	for i, s := range steps {
		creds.Invalidate(s.invalidate)
		if _, err := creds.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
		if mints != s.wantMints {
			t.Errorf("step %d: mints = %d, want %d", i, mints, s.wantMints)
		}
	}
}

func TestTokenSourceFailureIsNotTheCallers(t *testing.T) {
	t.Parallel()
	srv := sat.NewServer(t)
	tests := []struct {
		name   string
		tokens smartassist.TokenSource
		want   smartassist.Kind
	}{
		{name: "no source, no pass-through", want: smartassist.KindNoCredentials},
		{name: "source fails", tokens: tokenFunc(func(context.Context) (string, error) { return "", errors.New("vault sealed") }), want: smartassist.KindTokenSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, srv, func(cfg *smartassist.Config) { cfg.Tokens = tt.tokens })
			req := request()
			req.Auth = ""
			_, err := c.GetConversation(t.Context(), req)
			if e := asError(t, err); e.Kind != tt.want || e.Attempts != 0 {
				t.Errorf("error = %v, want kind %q with 0 attempts", err, tt.want)
			}
		})
	}
	if hits := srv.Hits(); hits != 0 {
		t.Errorf("server hits = %d, want 0", hits)
	}
}
