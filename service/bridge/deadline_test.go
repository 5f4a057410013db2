package bridge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"google.golang.org/grpc/status"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

// TestDeadlinePropagation gives a call a short deadline against a
// SmartAssist that takes far longer: the caller gets DEADLINE_EXCEEDED, and
// the bridge's request to SmartAssist ends with the caller's deadline
// (grpc-timeout or Connect-Timeout-Ms), not with the bridge's own much
// longer upstream timeout, nor with SmartAssist's answer.
func TestDeadlinePropagation(t *testing.T) {
	t.Parallel()
	type call func(ctx context.Context, b *runningBridge) (code connect.Code, err error)
	viaConnect := func(h2c bool, opts ...connecthttp.Option) func(t *testing.T) call {
		return func(t *testing.T) call {
			return func(ctx context.Context, b *runningBridge) (connect.Code, error) {
				_, err := newClient(t, b.URL, h2c, opts...).GetConversation(ctx, sampleRequest())
				return connect.CodeOf(err), err
			}
		}
	}
	viaGRPCGo := func(t *testing.T) call {
		return func(ctx context.Context, b *runningBridge) (connect.Code, error) {
			err := newGRPCConn(t, b.Addr).Invoke(ctx, getConversationMethod, sampleRequest(), new(smartassistv1.GetConversationResponse))
			// gRPC and Connect number their codes alike.
			return connect.Code(status.Code(err)), err
		}
	}
	tests := []struct {
		name string
		call func(t *testing.T) call
	}{
		{"connect", viaConnect(false)},
		{"connect get", viaConnect(false, connecthttp.WithHTTPGet())},
		{"grpc", viaConnect(true, connecthttp.WithGRPC())},
		{"grpc-web", viaConnect(false, connecthttp.WithGRPCWeb())},
		{"grpc-go", viaGRPCGo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.Script(demo.ConversationID, smartassisttest.Response{Delay: 5 * time.Second})
			attempts := make(chan error, 1)
			deadlines := make(chan time.Duration, 1) // what the handler had left
			b := startBridgeFor(t, fake, func(bc *bridgeConfig) {
				bc.upstream = func(c *smartassist.Config) {
					c.Timeout = time.Minute
					c.Hooks.Attempt = func(_ int, _ time.Duration, err error) { attempts <- err }
				}
				bc.wrap = func(up service.Upstream) service.Upstream { return deadlineRecorder{up, deadlines} }
			})

			const timeout = 200 * time.Millisecond
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			code, err := tt.call(t)(ctx, b)
			if code != connect.CodeDeadlineExceeded {
				t.Fatalf("code %v (%v), want deadline_exceeded", code, err)
			}

			// The handler ran under the caller's deadline...
			if left := <-deadlines; left < 0 || left > timeout {
				t.Errorf("handler had %s left, want the caller's deadline of at most %s", left, timeout)
			}
			// ...and SmartAssist's request ended with the call, not with
			// its answer. Whether the server's timer or the client's
			// stream reset ends it first is a race (gRPC over HTTP/2
			// resets the stream when the client gives up); both are fine.
			upErr := <-attempts
			if e, ok := errors.AsType[*smartassist.Error](upErr); !ok || (e.Kind != smartassist.KindTimeout && e.Kind != smartassist.KindCanceled) {
				t.Errorf("upstream attempt ended with %v, want it cut short by the deadline", upErr)
			}
			if got := fake.Hits(); got != 1 {
				t.Errorf("SmartAssist saw %d requests, want 1", got)
			}
		})
	}
}

// TestCancellationPropagation cancels a call while SmartAssist is working
// on it: the bridge's upstream request is canceled too.
func TestCancellationPropagation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h2c  bool
		opts []connecthttp.Option
	}{
		{"connect", false, nil},
		{"grpc", true, []connecthttp.Option{connecthttp.WithGRPC()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.Script(demo.ConversationID, smartassisttest.Response{Delay: time.Minute})
			attempts := make(chan error, 1)
			b := startBridgeFor(t, fake, func(bc *bridgeConfig) {
				bc.upstream = func(c *smartassist.Config) {
					c.Timeout = 2 * time.Minute
					c.Hooks.Attempt = func(_ int, _ time.Duration, err error) { attempts <- err }
				}
			})
			client := newClient(t, b.URL, tt.h2c, tt.opts...)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := client.GetConversation(ctx, sampleRequest())
				done <- err
			}()
			rpctest.Eventually(t, "SmartAssist receives the call", func() bool { return fake.Hits() == 1 })
			cancel()
			if err := <-done; connect.CodeOf(err) != connect.CodeCanceled {
				t.Errorf("code %v (%v), want canceled", connect.CodeOf(err), err)
			}
			upErr := <-attempts
			if e, ok := errors.AsType[*smartassist.Error](upErr); !ok || e.Kind != smartassist.KindCanceled {
				t.Errorf("upstream attempt ended with %v, want canceled", upErr)
			}
		})
	}
}

// deadlineRecorder is an Upstream that sends how long each call has left
// before its deadline (-1 when it has none), then calls SmartAssist.
type deadlineRecorder struct {
	service.Upstream
	left chan<- time.Duration
}

func (r deadlineRecorder) GetConversation(ctx context.Context, req smartassist.Request) ([]byte, error) {
	d := time.Duration(-1)
	if deadline, ok := ctx.Deadline(); ok {
		d = time.Until(deadline)
	}
	select {
	case r.left <- d:
	default:
	}
	return r.Upstream.GetConversation(ctx, req)
}
