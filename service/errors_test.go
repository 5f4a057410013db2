package service_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
)

// TestUpstreamErrorTable feeds the handler every kind of SmartAssist
// failure, and every row of the status table, and checks the Connect error
// it makes: code, ErrorInfo (domain, reason, metadata) and RetryInfo. The
// end-to-end version with a fake SmartAssist is in package bridge.
func TestUpstreamErrorTable(t *testing.T) {
	t.Parallel()
	status := func(code int) *smartassist.Error {
		return &smartassist.Error{Kind: smartassist.KindStatus, HTTPStatus: code, Attempts: 1}
	}
	tests := []struct {
		name         string
		err          error
		expiredCtx   bool // the caller's deadline has passed
		wantCode     connect.Code
		wantReason   string // "" accepts any
		wantMeta     map[string]string
		wantRetry    time.Duration
		wantInMsg    string
		wantNotInMsg string
	}{
		{name: "400", err: status(400), wantCode: connect.CodeInvalidArgument, wantReason: "UPSTREAM_BAD_REQUEST", wantMeta: map[string]string{"attempts": "1", "httpStatus": "400"}},
		{name: "401", err: status(401), wantCode: connect.CodeUnauthenticated, wantReason: "UPSTREAM_UNAUTHENTICATED", wantMeta: map[string]string{"attempts": "1", "httpStatus": "401"}},
		{name: "403", err: status(403), wantCode: connect.CodePermissionDenied, wantReason: "UPSTREAM_PERMISSION_DENIED", wantMeta: map[string]string{"attempts": "1", "httpStatus": "403"}},
		{name: "404", err: status(404), wantCode: connect.CodeNotFound, wantReason: "CONVERSATION_NOT_FOUND", wantMeta: map[string]string{"attempts": "1", "httpStatus": "404"}, wantInMsg: "c-3c04346"},
		{name: "409", err: status(409), wantCode: connect.CodeAborted, wantReason: "UPSTREAM_CONFLICT", wantMeta: map[string]string{"attempts": "1", "httpStatus": "409"}},
		{name: "429 without Retry-After", err: status(429), wantCode: connect.CodeResourceExhausted, wantReason: "UPSTREAM_RATE_LIMITED", wantMeta: map[string]string{"attempts": "1", "httpStatus": "429"}, wantRetry: time.Second},
		{
			name:       "429 with Retry-After",
			err:        &smartassist.Error{Kind: smartassist.KindStatus, HTTPStatus: 429, RetryAfter: 7 * time.Second, Attempts: 3},
			wantCode:   connect.CodeResourceExhausted,
			wantReason: "UPSTREAM_RATE_LIMITED",
			wantMeta:   map[string]string{"attempts": "3", "httpStatus": "429"},
			wantRetry:  7 * time.Second,
		},
		{name: "500", err: status(500), wantCode: connect.CodeUnavailable, wantReason: "UPSTREAM_UNAVAILABLE", wantMeta: map[string]string{"attempts": "1", "httpStatus": "500"}},
		{name: "502", err: status(502), wantCode: connect.CodeUnavailable, wantReason: "UPSTREAM_UNAVAILABLE", wantMeta: map[string]string{"attempts": "1", "httpStatus": "502"}},
		{name: "503", err: status(503), wantCode: connect.CodeUnavailable, wantReason: "UPSTREAM_UNAVAILABLE", wantMeta: map[string]string{"attempts": "1", "httpStatus": "503"}},
		{
			name:       "503 with Retry-After",
			err:        &smartassist.Error{Kind: smartassist.KindStatus, HTTPStatus: 503, RetryAfter: 2 * time.Second, Attempts: 1},
			wantCode:   connect.CodeUnavailable,
			wantReason: "UPSTREAM_UNAVAILABLE",
			wantMeta:   map[string]string{"attempts": "1", "httpStatus": "503"},
			wantRetry:  2 * time.Second,
		},
		{name: "504", err: status(504), wantCode: connect.CodeDeadlineExceeded, wantReason: "UPSTREAM_TIMEOUT", wantMeta: map[string]string{"attempts": "1", "httpStatus": "504"}},
		{name: "unlisted 4xx", err: status(422), wantCode: connect.CodeInternal, wantReason: "UPSTREAM_REJECTED_REQUEST", wantMeta: map[string]string{"attempts": "1", "httpStatus": "422"}, wantInMsg: "422"},
		{name: "unlisted 5xx", err: status(599), wantCode: connect.CodeUnavailable, wantReason: "UPSTREAM_UNAVAILABLE", wantMeta: map[string]string{"attempts": "1", "httpStatus": "599"}, wantInMsg: "599"},
		{name: "redirect", err: status(307), wantCode: connect.CodeInternal, wantReason: "UPSTREAM_REJECTED_REQUEST", wantMeta: map[string]string{"attempts": "1", "httpStatus": "307"}},
		{
			name:         "SmartAssist's code and message",
			err:          &smartassist.Error{Kind: smartassist.KindStatus, HTTPStatus: 404, UpstreamCode: "404", UpstreamMsg: "Conversation not found", Attempts: 1, Err: errors.New("cause-text-7f1")},
			wantCode:     connect.CodeNotFound,
			wantReason:   "CONVERSATION_NOT_FOUND",
			wantMeta:     map[string]string{"attempts": "1", "httpStatus": "404", "upstreamCode": "404", "upstreamMessage": "Conversation not found"},
			wantNotInMsg: "cause-text-7f1",
		},
		{
			name:         "transport",
			err:          &smartassist.Error{Kind: smartassist.KindTransport, Attempts: 3, Err: errors.New("dial tcp 10.0.0.7:443: connection refused")},
			wantCode:     connect.CodeUnavailable,
			wantReason:   "UPSTREAM_UNAVAILABLE",
			wantMeta:     map[string]string{"attempts": "3"},
			wantNotInMsg: "10.0.0.7",
		},
		{
			name:       "bridge's upstream timeout",
			err:        &smartassist.Error{Kind: smartassist.KindTimeout, Attempts: 1, Err: context.DeadlineExceeded},
			wantCode:   connect.CodeDeadlineExceeded,
			wantReason: "UPSTREAM_TIMEOUT",
			wantMeta:   map[string]string{"attempts": "1"},
		},
		{
			name:       "caller's deadline",
			err:        &smartassist.Error{Kind: smartassist.KindTimeout, Attempts: 1, Err: context.DeadlineExceeded},
			expiredCtx: true,
			wantCode:   connect.CodeDeadlineExceeded,
			wantReason: "DEADLINE_EXCEEDED",
			wantMeta:   map[string]string{"attempts": "1"},
		},
		{name: "canceled", err: &smartassist.Error{Kind: smartassist.KindCanceled, Err: context.Canceled}, wantCode: connect.CodeCanceled, wantReason: "CANCELED", wantMeta: map[string]string{"attempts": "0"}},
		{name: "body too large", err: &smartassist.Error{Kind: smartassist.KindBodyTooLarge, HTTPStatus: 200, Attempts: 1}, wantCode: connect.CodeResourceExhausted, wantReason: "UPSTREAM_RESPONSE_TOO_LARGE", wantMeta: map[string]string{"attempts": "1", "httpStatus": "200"}},
		{name: "bad body", err: &smartassist.Error{Kind: smartassist.KindBadBody, HTTPStatus: 200, Attempts: 1}, wantCode: connect.CodeInternal, wantReason: "UPSTREAM_BAD_RESPONSE", wantMeta: map[string]string{"attempts": "1", "httpStatus": "200"}},
		{name: "no credentials", err: &smartassist.Error{Kind: smartassist.KindNoCredentials}, wantCode: connect.CodeUnauthenticated, wantReason: "MISSING_CREDENTIALS", wantMeta: map[string]string{"attempts": "0"}},
		{name: "invalid request", err: &smartassist.Error{Kind: smartassist.KindInvalidRequest}, wantCode: connect.CodeInvalidArgument, wantReason: "INVALID_ARGUMENT", wantMeta: map[string]string{"attempts": "0"}},
		{name: "quota exhausted", err: &smartassist.Error{Kind: smartassist.KindQuotaExhausted, RetryAfter: 1500 * time.Millisecond}, wantCode: connect.CodeResourceExhausted, wantReason: "QUOTA_EXHAUSTED", wantMeta: map[string]string{"attempts": "0"}, wantRetry: 1500 * time.Millisecond},
		{name: "token source failed", err: &smartassist.Error{Kind: smartassist.KindTokenSource}, wantCode: connect.CodeInternal, wantReason: "CREDENTIALS_UNAVAILABLE", wantMeta: map[string]string{"attempts": "0"}},
		{name: "408 after retries", err: &smartassist.Error{Kind: smartassist.KindStatus, HTTPStatus: 408, Attempts: 3}, wantCode: connect.CodeUnavailable, wantReason: "UPSTREAM_UNAVAILABLE", wantMeta: map[string]string{"attempts": "3", "httpStatus": "408"}},
		{name: "body cut off", err: &smartassist.Error{Kind: smartassist.KindTransport, HTTPStatus: 200, Attempts: 3}, wantCode: connect.CodeUnavailable, wantReason: "UPSTREAM_UNAVAILABLE", wantMeta: map[string]string{"attempts": "3", "httpStatus": "200"}},
		{name: "unknown kind", err: &smartassist.Error{}, wantCode: connect.CodeInternal},
		{name: "not a smartassist error", err: errors.New("secret-cause-9c2"), wantCode: connect.CodeInternal, wantNotInMsg: "secret-cause-9c2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if tt.expiredCtx {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, time.Now().Add(-time.Second))
				defer cancel()
			}
			h := service.NewConversationServer(service.Options{Upstream: &fakeUpstream{err: tt.err}})
			_, err := h.GetConversation(ctx, sampleRequest())

			var cerr *connect.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("got %T %v, want a *connect.Error", err, err)
			}
			if cerr.Code() != tt.wantCode {
				t.Errorf("code %v (%v), want %v", cerr.Code(), err, tt.wantCode)
			}
			if cerr.Message() == "" {
				t.Error("empty message")
			}
			if strings.Contains(cerr.Message(), "%!") {
				t.Errorf("message %q is mis-formatted", cerr.Message())
			}
			if tt.wantInMsg != "" && !strings.Contains(cerr.Message(), tt.wantInMsg) {
				t.Errorf("message %q lacks %q", cerr.Message(), tt.wantInMsg)
			}
			if tt.wantNotInMsg != "" && strings.Contains(cerr.Error(), tt.wantNotInMsg) {
				t.Errorf("message %q carries the cause's %q", cerr.Error(), tt.wantNotInMsg)
			}
			// The cause stays available to the server's own logging.
			if !errors.Is(err, tt.err) {
				t.Errorf("the upstream error is not the cause of %v", err)
			}

			ds := details(t, err)
			info, ok := findDetail[*errdetails.ErrorInfo](ds)
			if !ok {
				t.Fatalf("no ErrorInfo in %v", ds)
			}
			if info.GetDomain() != service.ErrorDomain {
				t.Errorf("ErrorInfo domain %q, want %q", info.GetDomain(), service.ErrorDomain)
			}
			if info.GetReason() == "" || (tt.wantReason != "" && info.GetReason() != tt.wantReason) {
				t.Errorf("ErrorInfo reason %q, want %q", info.GetReason(), tt.wantReason)
			}
			if tt.wantMeta != nil {
				if diff := cmp.Diff(tt.wantMeta, info.GetMetadata()); diff != "" {
					t.Errorf("ErrorInfo metadata (-want +got):\n%s", diff)
				}
			}
			ri, ok := findDetail[*errdetails.RetryInfo](ds)
			switch {
			case tt.wantRetry == 0 && ok:
				t.Errorf("unexpected RetryInfo %v", ri)
			case tt.wantRetry != 0 && (!ok || ri.GetRetryDelay().AsDuration() != tt.wantRetry):
				t.Errorf("RetryInfo %v, want a delay of %s", ri, tt.wantRetry)
			}
		})
	}
}
