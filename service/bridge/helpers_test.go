package bridge_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"connectrpc.com/connect/v2/connectproto"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/bridge"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

// getConversationMethod is the gRPC method name grpc-go clients invoke.
const getConversationMethod = smartassistv1connect.ConversationServiceGetConversationProcedure

// staticToken hands out one fixed token; the fake accepts any non-empty
// token unless told otherwise.
type staticToken = smartassist.StaticToken

// newFake starts a fake SmartAssist that serves the sample conversation.
func newFake(t *testing.T, opts ...smartassisttest.Option) *smartassisttest.Server {
	t.Helper()
	opts = append([]smartassisttest.Option{
		smartassisttest.WithConversation(demo.StreamID, demo.ConversationID, demo.Conversation),
	}, opts...)
	return smartassisttest.NewServer(t, opts...)
}

// newUpstream returns a SmartAssist client for baseURL that authenticates
// with a static token and backs off for milliseconds only; mutate, if not
// nil, adjusts the configuration first. It is closed at cleanup.
func newUpstream(t *testing.T, baseURL string, mutate func(*smartassist.Config)) *smartassist.Client {
	t.Helper()
	cfg := smartassist.Config{
		BaseURL:     baseURL,
		Timeout:     10 * time.Second,
		Tokens:      staticToken("static-test-token"),
		BackoffBase: time.Millisecond,
		BackoffMax:  4 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := smartassist.New(cfg)
	if err != nil {
		t.Fatalf("smartassist.New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// runningBridge is a bridge serving on a loopback listener.
type runningBridge struct {
	*bridge.Bridge
	URL  string // "http://127.0.0.1:port"
	Addr string // "127.0.0.1:port"

	cancel   context.CancelFunc
	wait     func() error // Serve's result, once it returned
	explicit atomic.Bool  // the test called Stop and checks its result
}

// startBridge serves a bridge built from o on 127.0.0.1:0 until the test
// ends (or Stop is called), and fails the test if Serve does not then
// return nil.
func startBridge(t *testing.T, o bridge.Options, so bridge.ServeOptions) *runningBridge {
	t.Helper()
	return serveBridge(t, bridge.New(o), so)
}

// serveBridge serves b on 127.0.0.1:0 until the test ends (or Stop is
// called), and fails the test if Serve does not then return nil.
func serveBridge(t *testing.T, b *bridge.Bridge, so bridge.ServeOptions) *runningBridge {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- b.Serve(ctx, ln, so) }()
	rb := &runningBridge{
		Bridge: b,
		URL:    "http://" + ln.Addr().String(),
		Addr:   ln.Addr().String(),
		cancel: cancel,
		wait:   sync.OnceValue(func() error { return <-served }),
	}
	t.Cleanup(func() {
		rb.cancel()
		if err := rb.wait(); err != nil && !rb.explicit.Load() {
			t.Errorf("Serve: %v", err)
		}
	})
	return rb
}

// Stop cancels Serve's context and returns what Serve returned, once it
// did; the caller checks it.
func (rb *runningBridge) Stop() error {
	rb.explicit.Store(true)
	rb.cancel()
	return rb.wait()
}

// bridgeConfig adjusts what startBridgeFor builds.
type bridgeConfig struct {
	// upstream adjusts the SmartAssist client's configuration.
	upstream func(*smartassist.Config)
	// noTokens leaves the SmartAssist client without a token source:
	// pass-through mode.
	noTokens bool
	// wrap, if not nil, wraps the SmartAssist client to observe or alter
	// the handler's calls.
	wrap func(service.Upstream) service.Upstream
	// options and serve configure the bridge; options.Service.Upstream is set by
	// startBridgeFor.
	options bridge.Options
	serve   bridge.ServeOptions
}

// startBridgeFor starts a bridge whose upstream is a SmartAssist client
// of fake, as adjusted by mutate.
func startBridgeFor(t *testing.T, fake *smartassisttest.Server, mutate ...func(*bridgeConfig)) *runningBridge {
	t.Helper()
	var bc bridgeConfig
	for _, m := range mutate {
		m(&bc)
	}
	var up service.Upstream = newUpstream(t, fake.URL, func(c *smartassist.Config) {
		if bc.noTokens {
			c.Tokens = nil
		}
		if bc.upstream != nil {
			bc.upstream(c)
		}
	})
	if bc.wrap != nil {
		up = bc.wrap(up)
	}
	bc.options.Service.Upstream = up
	return startBridge(t, bc.options, bc.serve)
}

// sampleBridge starts a fake SmartAssist serving the sample and a bridge in
// front of it.
func sampleBridge(t *testing.T, fakeOpts ...smartassisttest.Option) (*runningBridge, *smartassisttest.Server) {
	t.Helper()
	fake := newFake(t, fakeOpts...)
	return startBridgeFor(t, fake), fake
}

// metadataContext returns ctx carrying outgoing grpc-go metadata; pairs
// are key, value, key, value...
func metadataContext(t *testing.T, pairs ...string) context.Context {
	return metadata.AppendToOutgoingContext(t.Context(), pairs...)
}

// newHTTPClient returns an HTTP client speaking HTTP/1.1, or cleartext
// HTTP/2 (h2c, as gRPC needs) when h2c is set. Its idle connections are
// closed at cleanup.
func newHTTPClient(t *testing.T, h2c bool) *http.Client {
	t.Helper()
	p := new(http.Protocols)
	if h2c {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	tr := &http.Transport{Protocols: p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// newClient returns a generated ConversationService client for baseURL over
// connecthttp with opts (Connect by default).
func newClient(t *testing.T, baseURL string, h2c bool, opts ...connecthttp.Option) smartassistv1connect.ConversationServiceClient {
	t.Helper()
	transport := connecthttp.NewTransport(newHTTPClient(t, h2c), baseURL, opts...)
	return smartassistv1connect.NewConversationServiceClient(connect.NewClient(transport))
}

// newGRPCConn returns a grpc-go connection to addr, closed at cleanup.
func newGRPCConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// sampleRequest asks for the sample conversation.
func sampleRequest() *smartassistv1.GetConversationRequest {
	return &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: demo.ConversationID}
}

// wantSample is what the bridge must answer for the sample.
func wantSample(t *testing.T) *smartassistv1.GetConversationResponse {
	t.Helper()
	conv, err := mapping.Conversation(demo.Conversation)
	if err != nil {
		t.Fatalf("mapping the sample: %v", err)
	}
	return &smartassistv1.GetConversationResponse{Conversation: conv}
}

// checkSample fails the test unless got is the sample conversation.
func checkSample(t *testing.T, got *smartassistv1.GetConversationResponse, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("GetConversation: %v", err)
	}
	if diff := cmp.Diff(wantSample(t), got, protocmp.Transform()); diff != "" {
		t.Errorf("GetConversation (-want +got):\n%s", diff)
	}
}

// withHeaders returns ctx carrying request headers for a connect client
// call; pairs are name, value, name, value...
func withHeaders(ctx context.Context, pairs ...string) context.Context {
	ctx, info := connect.NewClientContext(ctx)
	for i := 0; i+1 < len(pairs); i += 2 {
		info.RequestHeader().Set(pairs[i], pairs[i+1])
	}
	return ctx
}

// connectDetails returns the decoded details of a connect error, failing
// the test if err is not a *connect.Error.
func connectDetails(t *testing.T, err error) []proto.Message {
	t.Helper()
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("got %T %v, want a *connect.Error", err, err)
	}
	var out []proto.Message
	for _, d := range cerr.Details() {
		msg, err := connectproto.UnmarshalErrorDetail(d)
		if err != nil {
			t.Fatalf("error detail %q: %v", d, err)
		}
		out = append(out, msg)
	}
	return out
}

func findDetail[T proto.Message](details []proto.Message) (T, bool) {
	return rpctest.FindDetail[T](details)
}

// checkErrorInfo fails the test unless details hold an ErrorInfo of our
// domain with reason and, when meta is not nil, exactly that metadata.
func checkErrorInfo(t *testing.T, details []proto.Message, reason string, meta map[string]string) {
	t.Helper()
	info, ok := findDetail[*errdetails.ErrorInfo](details)
	if !ok {
		t.Fatalf("no google.rpc.ErrorInfo in details %v", details)
	}
	want := &errdetails.ErrorInfo{Domain: service.ErrorDomain, Reason: reason, Metadata: meta}
	if meta == nil {
		want.Metadata = info.GetMetadata()
	}
	if diff := cmp.Diff(want, info, protocmp.Transform()); diff != "" {
		t.Errorf("ErrorInfo (-want +got):\n%s", diff)
	}
}

type syncBuffer = rpctest.SyncBuffer
