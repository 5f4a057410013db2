package bridge_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

// TestGracefulShutdown stops the bridge while a call is in flight: health
// goes NOT_SERVING (and Watch streams end), the call still completes, Serve
// returns nil, and the port then refuses connections.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(t *testing.T, b *runningBridge) (*smartassistv1.GetConversationResponse, error)
	}{
		{"grpc-go on the watched connection", nil}, // filled below: needs the connection
		{"connect over HTTP/1.1", func(t *testing.T, b *runningBridge) (*smartassistv1.GetConversationResponse, error) {
			return newClient(t, b.URL, false).GetConversation(context.WithoutCancel(t.Context()), sampleRequest())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.Script(demo.ConversationID, smartassisttest.Response{Delay: 500 * time.Millisecond, Body: demo.Conversation})
			b := startBridgeFor(t, fake)
			conn := newGRPCConn(t, b.Addr)
			call := tt.call
			if call == nil {
				call = func(t *testing.T, b *runningBridge) (*smartassistv1.GetConversationResponse, error) {
					res := new(smartassistv1.GetConversationResponse)
					err := conn.Invoke(context.WithoutCancel(t.Context()), getConversationMethod, sampleRequest(), res)
					return res, err
				}
			}

			watch, err := healthpb.NewHealthClient(conn).Watch(t.Context(), &healthpb.HealthCheckRequest{})
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			if res, err := watch.Recv(); err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("Watch: %v, %v; want SERVING", res.GetStatus(), err)
			}

			type result struct {
				res *smartassistv1.GetConversationResponse
				err error
			}
			called := make(chan result, 1)
			go func() {
				res, err := call(t, b)
				called <- result{res, err}
			}()
			rpctest.Eventually(t, "SmartAssist receives the call", func() bool { return fake.Hits() == 1 })

			stopped := make(chan error, 1)
			go func() { stopped <- b.Stop() }()

			var statuses []healthpb.HealthCheckResponse_ServingStatus
			for {
				res, err := watch.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("Watch during shutdown: %v", err)
				}
				statuses = append(statuses, res.GetStatus())
			}
			if diff := cmp.Diff([]healthpb.HealthCheckResponse_ServingStatus{healthpb.HealthCheckResponse_NOT_SERVING}, statuses); diff != "" {
				t.Errorf("Watch during shutdown (-want +got):\n%s", diff)
			}

			r := <-called
			checkSample(t, r.res, r.err)
			if err := <-stopped; err != nil {
				t.Errorf("Serve: %v, want nil after a graceful shutdown", err)
			}
			for _, service := range []string{"", "smartassist.v1.ConversationService"} {
				if st, _ := b.Health().Status(service); st != healthpb.HealthCheckResponse_NOT_SERVING {
					t.Errorf("health of %q after shutdown: %v", service, st)
				}
			}
			if c, err := net.Dial("tcp", b.Addr); err == nil {
				c.Close()
				t.Errorf("a new connection was accepted after shutdown")
			}
		})
	}
}

// TestDrainAcceptsCalls checks the drain: when OnDrain runs, health already
// says NOT_SERVING, and new calls are still served (load balancers need
// that time to stop sending).
func TestDrainAcceptsCalls(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	type drainResult struct {
		status healthpb.HealthCheckResponse_ServingStatus
		res    *smartassistv1.GetConversationResponse
		err    error
	}
	drained := make(chan drainResult, 1)
	var b *runningBridge
	b = startBridgeFor(t, fake, func(bc *bridgeConfig) {
		bc.serve.DrainDelay = 50 * time.Millisecond
		bc.serve.OnDrain = func() {
			// Serve waits for this to return before it closes the
			// listener, so the call below cannot race the close.
			st, _ := b.Health().Status("")
			res, err := newClient(t, b.URL, false).GetConversation(context.WithoutCancel(t.Context()), sampleRequest())
			drained <- drainResult{st, res, err}
		}
	})
	if err := b.Stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	r := <-drained
	if r.status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health when draining starts: %v, want NOT_SERVING", r.status)
	}
	checkSample(t, r.res, r.err)
}

// TestShutdownTimeout checks that a call outliving ShutdownTimeout is cut
// and Serve reports that the shutdown was not graceful.
func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.Script(demo.ConversationID, smartassisttest.Response{Delay: time.Minute})
	b := startBridgeFor(t, fake, func(bc *bridgeConfig) { bc.serve.ShutdownTimeout = 100 * time.Millisecond })

	called := make(chan error, 1)
	go func() {
		_, err := newClient(t, b.URL, false).GetConversation(context.WithoutCancel(t.Context()), sampleRequest())
		called <- err
	}()
	rpctest.Eventually(t, "SmartAssist receives the call", func() bool { return fake.Hits() == 1 })

	if err := b.Stop(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve: %v, want a graceful-shutdown timeout", err)
	}
	if err := <-called; err == nil {
		t.Error("the call outliving the shutdown timeout succeeded")
	}
}
