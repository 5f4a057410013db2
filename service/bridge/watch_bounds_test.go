package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"connectrpc.com/connect/v2/connecthttp"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/testing/protocmp"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service/bridge"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

// The conversation the bounds test watches.
const (
	boundsStreamID       = "st-watch-bounds"
	boundsConversationID = "c-watch-bounds"
)

// watchReceiver reads a WatchConversation stream: the next conversation,
// or an error matching io.EOF once the stream ended with OK.
type watchReceiver func() (*smartassistv1.Conversation, error)

// watchOverConnect opens a watch with a connect-go client over HTTP/1.1,
// or h2c when h2c is set, speaking the protocol opts choose.
func watchOverConnect(h2c bool, opts ...connecthttp.Option) func(*testing.T, context.Context, *runningBridge, *smartassistv1.WatchConversationRequest) watchReceiver {
	return func(t *testing.T, ctx context.Context, b *runningBridge, req *smartassistv1.WatchConversationRequest) watchReceiver {
		t.Helper()
		stream, err := newClient(t, b.URL, h2c, opts...).WatchConversation(ctx, req)
		if err != nil {
			t.Fatalf("WatchConversation: %v", err)
		}
		t.Cleanup(func() { _ = stream.Close() })
		return func() (*smartassistv1.Conversation, error) {
			resp, err := stream.Receive()
			return resp.GetConversation(), err
		}
	}
}

// watchOverGRPCGo opens a watch with grpc-go over h2c.
func watchOverGRPCGo(t *testing.T, ctx context.Context, b *runningBridge, req *smartassistv1.WatchConversationRequest) watchReceiver {
	t.Helper()
	conn := newGRPCConn(t, b.Addr)
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, smartassistv1connect.ConversationServiceWatchConversationProcedure)
	if err != nil {
		t.Fatalf("NewStream: %v", err)
	}
	if err := stream.SendMsg(req); err != nil {
		t.Fatalf("SendMsg: %v", err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("CloseSend: %v", err)
	}
	return func() (*smartassistv1.Conversation, error) {
		resp := new(smartassistv1.WatchConversationResponse)
		err := stream.RecvMsg(resp)
		return resp.GetConversation(), err
	}
}

// boundsState is the watched conversation in SmartAssist's shape, and as
// the bridge maps it.
func boundsState(t *testing.T, status, updatedAt string) ([]byte, *smartassistv1.Conversation) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"_id": boundsConversationID, "botId": boundsStreamID, "status": status, "updatedAt": updatedAt,
	})
	if err != nil {
		t.Fatal(err)
	}
	conv, err := mapping.Conversation(body)
	if err != nil {
		t.Fatalf("mapping %s: %v", body, err)
	}
	return body, conv
}

// TestWatchOutlivesServeBounds proves that a real WatchConversation
// stream, served by bridge.New and Serve, outlives ResponseWriteTimeout
// and RequestReadTimeout while it is quiet: the conversation stays
// unchanged for four times the bounds between its messages, and each
// client, over h2c and HTTP/1.1 and in every protocol, still receives the
// initial, changed and CLOSED states, then OK. So bridge.New registers
// the procedure as a stream, which boundTime bounds per write, not as a
// unary call bounded as a whole.
func TestWatchOutlivesServeBounds(t *testing.T) {
	t.Parallel()
	const (
		bound = 300 * time.Millisecond
		quiet = 4 * bound // how long the conversation stays unchanged
	)
	clients := []struct {
		name string
		open func(*testing.T, context.Context, *runningBridge, *smartassistv1.WatchConversationRequest) watchReceiver
	}{
		{"gRPC over h2c", watchOverConnect(true, connecthttp.WithGRPC())},
		{"grpc-go over h2c", watchOverGRPCGo},
		{"Connect over h2c", watchOverConnect(true)},
		{"Connect over HTTP/1.1", watchOverConnect(false)},
		{"gRPC-Web over HTTP/1.1", watchOverConnect(false, connecthttp.WithGRPCWeb())},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			openBody, openConv := boundsState(t, "OPEN", "2024-05-01T10:00:00.000Z")
			activeBody, activeConv := boundsState(t, "ACTIVE", "2024-05-01T10:01:00.000Z")
			closedBody, closedConv := boundsState(t, "CLOSED", "2024-05-01T10:02:00.000Z")
			fake := smartassisttest.NewServer(t, smartassisttest.WithConversation(boundsStreamID, boundsConversationID, openBody))
			b := startBridgeFor(t, fake, func(bc *bridgeConfig) {
				bc.options.Service.WatchInterval = 50 * time.Millisecond
				bc.serve = bridge.ServeOptions{RequestReadTimeout: bound, ResponseWriteTimeout: bound}
			})

			// The deadline is a liveness guard, far beyond the scenario.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			recv := c.open(t, ctx, b, &smartassistv1.WatchConversationRequest{StreamId: boundsStreamID, ConversationId: boundsConversationID})

			steps := []struct {
				name string
				body []byte // served from now on; nil for the initial state
				want *smartassistv1.Conversation
			}{
				{"initial", nil, openConv},
				{"changed", activeBody, activeConv},
				{"closed", closedBody, closedConv},
			}
			for _, step := range steps {
				if step.body != nil {
					// A quiet spell: polls go on, nothing is written.
					from := fake.Hits()
					time.Sleep(quiet)
					if fake.Hits() <= from {
						t.Fatalf("before the %s state: SmartAssist was not polled while the stream was quiet", step.name)
					}
					fake.SetConversation(boundsStreamID, boundsConversationID, step.body)
				}
				got, err := recv()
				if err != nil {
					t.Fatalf("%s state: stream ended with %v, want a message", step.name, err)
				}
				if diff := cmp.Diff(step.want, got, protocmp.Transform()); diff != "" {
					t.Errorf("%s state (-want +got):\n%s", step.name, diff)
				}
			}
			if got, err := recv(); !errors.Is(err, io.EOF) {
				t.Errorf("after CLOSED: got %v, %v; want the stream to end with OK", got, err)
			}
		})
	}
}
