package smartassist_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	sat "github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

// quotaError is what a Budget returns when no slot frees up in time.
type quotaError struct{ wait time.Duration }

func (e quotaError) Error() string             { return "quota exhausted" }
func (e quotaError) RetryDelay() time.Duration { return e.wait }

// fakeBudget records calls and answers Acquire from a script: the n-th
// Acquire returns acquire[n] (nil past its end); a nil entry grants a slot.
type fakeBudget struct {
	acquire []func(ctx context.Context) error

	mu       sync.Mutex
	acquired []string // account per Acquire
	backoffs []backoff
}

type backoff struct {
	Account    string
	RetryAfter time.Duration
}

func (b *fakeBudget) Acquire(ctx context.Context, account string) error {
	b.mu.Lock()
	n := len(b.acquired)
	b.acquired = append(b.acquired, account)
	b.mu.Unlock()
	if n < len(b.acquire) && b.acquire[n] != nil {
		return b.acquire[n](ctx)
	}
	return nil
}

func (b *fakeBudget) Backoff(account string, retryAfter time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backoffs = append(b.backoffs, backoff{account, retryAfter})
}

func TestBudget(t *testing.T) {
	t.Parallel()
	refuse := func(d time.Duration) func(context.Context) error {
		return func(context.Context) error { return quotaError{d} }
	}
	wait := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	broken := func(context.Context) error { return errors.New("budget store unreachable") }
	pause := func(d time.Duration) func(context.Context) error {
		return func(ctx context.Context) error {
			select {
			case <-time.After(d):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	tests := []struct {
		name         string
		acquire      []func(context.Context) error
		script       []sat.Response
		maxAttempts  int
		ctxTimeout   time.Duration
		timeout      time.Duration      // Config.Timeout; 0: the test client's
		waitFor      time.Duration      // Request.QuotaWaitUntil from now; 0: none
		want         *smartassist.Error // nil: success; compared on Kind, HTTPStatus, RetryAfter, Attempts
		wantAcquired int
		wantBackoffs []backoff
		wantHits     int
	}{
		{name: "granted", wantAcquired: 1, wantHits: 1},
		{
			name:         "asked before every attempt, retries included",
			script:       []sat.Response{{Status: 503}, {Status: 502}},
			wantAcquired: 3, wantHits: 3,
		},
		{
			name:    "refused with a delay: nothing sent",
			acquire: []func(context.Context) error{refuse(7 * time.Second)},
			want:    &smartassist.Error{Kind: smartassist.KindQuotaExhausted, RetryAfter: 7 * time.Second},
			// A refusal is final: no retry asks again.
			wantAcquired: 1,
		},
		{
			name:         "refused on the retry",
			acquire:      []func(context.Context) error{nil, refuse(time.Second)},
			script:       []sat.Response{{Status: 503}},
			want:         &smartassist.Error{Kind: smartassist.KindQuotaExhausted, RetryAfter: time.Second, Attempts: 1},
			wantAcquired: 2, wantHits: 1,
		},
		{
			name:         "waits until the deadline",
			acquire:      []func(context.Context) error{wait},
			ctxTimeout:   50 * time.Millisecond,
			want:         &smartassist.Error{Kind: smartassist.KindTimeout},
			wantAcquired: 1,
		},
		{
			// A quota wait is not SmartAssist's time: a call whose
			// deadline allows waits longer than Config.Timeout (100ms
			// here) for its slot, then gets its whole Timeout.
			name:         "the first slot may take longer than Timeout",
			acquire:      []func(context.Context) error{pause(300 * time.Millisecond)},
			timeout:      100 * time.Millisecond,
			ctxTimeout:   5 * time.Second,
			wantAcquired: 1, wantHits: 1,
		},
		{
			// A shared fetch runs without its first caller's deadline, but
			// waits for a slot no longer than that caller could.
			name:         "waits no longer than QuotaWaitUntil",
			acquire:      []func(context.Context) error{wait},
			waitFor:      50 * time.Millisecond,
			want:         &smartassist.Error{Kind: smartassist.KindTimeout},
			wantAcquired: 1,
		},
		{
			name:         "fails otherwise: nothing sent",
			acquire:      []func(context.Context) error{broken},
			want:         &smartassist.Error{Kind: smartassist.KindQuotaExhausted},
			wantAcquired: 1,
		},
		{
			name:         "429 with Retry-After backs the account off",
			script:       []sat.Response{{Status: 429, Header: http.Header{"Retry-After": {"3"}}}},
			maxAttempts:  1,
			want:         &smartassist.Error{Kind: smartassist.KindStatus, HTTPStatus: 429, RetryAfter: 3 * time.Second, Attempts: 1},
			wantAcquired: 1, wantHits: 1,
			wantBackoffs: []backoff{{accountID, 3 * time.Second}},
		},
		{
			name:         "429 without Retry-After backs off a second",
			script:       []sat.Response{{Status: 429}},
			wantAcquired: 2, wantHits: 2,
			wantBackoffs: []backoff{{accountID, time.Second}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t, sat.WithConversation(streamID, conversationID, conversationBody))
			srv.Script(conversationID, tt.script...)
			budget := &fakeBudget{acquire: tt.acquire}
			c := newClient(t, srv, func(cfg *smartassist.Config) {
				cfg.Budget = budget
				cfg.MaxAttempts = tt.maxAttempts
				if tt.timeout > 0 {
					cfg.Timeout = tt.timeout
				}
			})
			ctx := t.Context()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}

			req := request()
			if tt.waitFor > 0 {
				req.QuotaWaitUntil = time.Now().Add(tt.waitFor)
			}
			_, err := c.GetConversation(ctx, req)

			if tt.want == nil {
				if err != nil {
					t.Fatalf("GetConversation: %v", err)
				}
			} else {
				e := asError(t, err)
				got := &smartassist.Error{Kind: e.Kind, HTTPStatus: e.HTTPStatus, RetryAfter: e.RetryAfter, Attempts: e.Attempts}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("error %v (-want +got):\n%s", err, diff)
				}
			}
			budget.mu.Lock()
			defer budget.mu.Unlock()
			if len(budget.acquired) != tt.wantAcquired {
				t.Errorf("Acquire calls = %d, want %d", len(budget.acquired), tt.wantAcquired)
			}
			for _, a := range budget.acquired {
				if a != accountID {
					t.Errorf("Acquire for account %q, want %q", a, accountID)
				}
			}
			if diff := cmp.Diff(tt.wantBackoffs, budget.backoffs); diff != "" {
				t.Errorf("Backoff calls (-want +got):\n%s", diff)
			}
			if hits := srv.Hits(); hits != tt.wantHits {
				t.Errorf("server hits = %d, want %d", hits, tt.wantHits)
			}
		})
	}
}
