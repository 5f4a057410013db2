package bridge_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service/bridge"
)

// startStub serves a bridge whose handler is h (which may use the Bridge
// it is given, once serving starts) on 127.0.0.1:0, stopped at cleanup.
func startStub(t *testing.T, h func(b *bridge.Bridge) http.Handler, so bridge.ServeOptions) *runningBridge {
	t.Helper()
	var b *bridge.Bridge
	b = bridge.NewWithHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(b).ServeHTTP(w, r)
	}), smartassistv1connect.ConversationServiceWatchConversationProcedure)
	return serveBridge(t, b, so)
}

// transport is one way of reaching the listener: HTTP/1.1, h2c, or HTTP/2
// over TLS.
type transport struct {
	name string
	tls  bool
	h2   bool
}

var transports = []transport{
	{name: "HTTP/1.1"},
	{name: "h2c", h2: true},
	{name: "HTTP/2 over TLS", tls: true, h2: true},
}

// serve starts the stub on tr's listener and returns the base URL and an
// HTTP client speaking tr's protocol to it.
func (tr transport) serve(t *testing.T, h func(b *bridge.Bridge) http.Handler, so bridge.ServeOptions) (*runningBridge, string, *http.Client) {
	t.Helper()
	var pool *x509.CertPool
	if tr.tls {
		so.CertFile, so.KeyFile, pool = selfSigned(t)
	}
	rb := startStub(t, h, so)
	p := new(http.Protocols)
	switch {
	case tr.tls:
		p.SetHTTP2(true)
	case tr.h2:
		p.SetUnencryptedHTTP2(true)
	default:
		p.SetHTTP1(true)
	}
	ht := &http.Transport{Protocols: p, TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(ht.CloseIdleConnections)
	url := rb.URL
	if tr.tls {
		url = "https://" + rb.Addr
	}
	return rb, url, &http.Client{Transport: ht}
}

// within waits for ch, failing the test after guard (a liveness bound far
// above the bound under test, not a timing assertion).
func within[T any](t *testing.T, ch <-chan T, guard time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("%s: nothing after %v", what, guard)
		panic("unreachable")
	}
}

// TestSlowRequestBodyReleased sends a body that never finishes: the
// handler's read fails at RequestReadTimeout and the exchange ends, on
// every protocol.
func TestSlowRequestBodyReleased(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			readErr := make(chan error, 1)
			_, url, hc := tr.serve(t, func(*bridge.Bridge) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, err := io.ReadAll(r.Body)
					readErr <- err
					w.WriteHeader(http.StatusRequestTimeout)
				})
			}, bridge.ServeOptions{RequestReadTimeout: 200 * time.Millisecond})

			body, feed := io.Pipe()
			t.Cleanup(func() { _ = feed.Close() })
			go func() { _, _ = feed.Write([]byte("the first bytes, and no more")) }()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/upload", body)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				res, err := hc.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					_ = res.Body.Close()
				}
				done <- err
			}()

			err = within(t, readErr, 5*time.Second, "the handler still reads a stalled body")
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("reading the stalled body: %v, want the read deadline", err)
			}
			// The client is answered or cut; either way the exchange is over.
			within(t, done, 5*time.Second, "the stalled request is still open")
		})
	}
}

// TestNonReadingClientReleased asks for an endless response and never
// reads it: once the connection (HTTP/1.1) or the stream's flow control
// window (HTTP/2) is full, the handler's write fails within
// ResponseWriteTimeout, so it returns.
func TestNonReadingClientReleased(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				written int64
				err     error
			}
			released := make(chan result, 1)
			const limit = 1 << 30 // far more than any socket or window holds
			_, url, hc := tr.serve(t, func(*bridge.Bridge) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					chunk := make([]byte, 1<<20)
					var written int64
					for written < limit {
						n, err := w.Write(chunk)
						written += int64(n)
						if err != nil {
							released <- result{written, err}
							return
						}
					}
					released <- result{written, nil}
				})
			}, bridge.ServeOptions{ResponseWriteTimeout: 200 * time.Millisecond})

			res, err := hc.Get(url + "/big")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer res.Body.Close() // never read

			r := within(t, released, 10*time.Second, "the handler still writes to a client that does not read")
			if r.err == nil {
				t.Fatalf("the handler wrote all %d bytes to a client that reads nothing", r.written)
			}
			t.Logf("released after %d MiB: %v", r.written>>20, r.err)
		})
	}
}

// TestHealthyStreamOutlivesBounds keeps a response going for several
// times both bounds, to a client that reads: writes every 100ms, then a
// pause twice as long as the write bound, then more writes. On a
// streaming procedure each write is bounded, not the stream nor its quiet
// spells, and the read deadline ends with the body (or is never set,
// without one), so the stream is neither cut nor cancelled. On any other
// path the whole response must be written within the write bound of its
// first byte, so the same response is cut.
func TestHealthyStreamOutlivesBounds(t *testing.T) {
	t.Parallel()
	const bound = 300 * time.Millisecond
	gaps := []time.Duration{0, 100, 100, 100, 2 * bound / time.Millisecond, 100, 100, 100}
	paths := []struct {
		name    string
		path    string
		wantCut bool
	}{
		{name: "stream", path: smartassistv1connect.ConversationServiceWatchConversationProcedure},
		{name: "unary", path: smartassistv1connect.ConversationServiceGetConversationProcedure, wantCut: true},
	}
	for _, tr := range transports {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			for _, p := range paths {
				t.Run(tr.name+" "+method+" "+p.name, func(t *testing.T) {
					t.Parallel()
					ended := make(chan error, 1)
					_, url, hc := tr.serve(t, func(*bridge.Bridge) http.Handler {
						return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
							if _, err := io.ReadAll(r.Body); err != nil {
								ended <- err
								return
							}
							rc := http.NewResponseController(w)
							for _, gap := range gaps {
								select {
								case <-r.Context().Done():
									ended <- context.Cause(r.Context())
									return
								case <-time.After(gap * time.Millisecond):
								}
								if _, err := io.WriteString(w, "tick\n"); err != nil {
									ended <- err
									return
								}
								if err := rc.Flush(); err != nil {
									ended <- err
									return
								}
							}
							ended <- nil
						})
					}, bridge.ServeOptions{RequestReadTimeout: bound, ResponseWriteTimeout: bound})

					var body io.Reader
					if method == http.MethodPost {
						body = strings.NewReader("start")
					}
					req, err := http.NewRequestWithContext(t.Context(), method, url+p.path, body)
					if err != nil {
						t.Fatal(err)
					}
					res, err := hc.Do(req)
					if err != nil {
						t.Fatalf("%s: %v", method, err)
					}
					defer res.Body.Close()
					got := 0
					sc := bufio.NewScanner(res.Body)
					for sc.Scan() {
						got++
					}
					handlerErr := within(t, ended, 5*time.Second, "the handler did not return")
					if p.wantCut {
						if got == len(gaps) || sc.Err() == nil || handlerErr == nil {
							t.Errorf("a unary response written over %v was not cut: %d of %d ticks, read error %v, handler error %v",
								bound, got, len(gaps), sc.Err(), handlerErr)
						}
						return
					}
					if err := sc.Err(); err != nil {
						t.Errorf("reading the stream after %d ticks: %v", got, err)
					}
					if got != len(gaps) {
						t.Errorf("got %d ticks, want %d", got, len(gaps))
					}
					if handlerErr != nil {
						t.Errorf("stream handler: %v", handlerErr)
					}
				})
			}
		}
	}
}

// TestIdleConnectionClosed: a connection carrying no request is closed
// after IdleTimeout.
func TestIdleConnectionClosed(t *testing.T) {
	t.Parallel()
	rb := startStub(t, func(*bridge.Bridge) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	}, bridge.ServeOptions{IdleTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", rb.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: bridge\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()

	closed := make(chan error, 1)
	go func() {
		_, err := br.ReadByte()
		closed <- err
	}()
	if err := within(t, closed, 5*time.Second, "the idle connection is still open"); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: %v, want closed by the server (EOF)", err)
	}
}

// stubWatch is a server stream that sends the same status every 50ms until
// the caller leaves or the server drains.
var stubWatch = connect.Spec{StreamType: connect.StreamTypeServer, Procedure: "/grpc.health.v1.Health/Watch"}

func stubStreams(b *bridge.Bridge) http.Handler {
	rpc := connect.NewServer()
	rpc.Register(connect.Method{
		Spec: connect.Spec{
			StreamType: connect.StreamTypeServer,
			Procedure:  stubWatch.Procedure,
			Schema:     healthpb.File_grpc_health_v1_health_proto.Services().ByName("Health").Methods().ByName("Watch"),
		},
		Handler: func(ctx context.Context, _ connect.Spec, stream connect.ServerStream) error {
			var req healthpb.HealthCheckRequest
			if err := stream.Receive(&req); err != nil {
				return err
			}
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-b.Draining():
					return connect.NewError(connect.CodeUnavailable, "draining")
				case <-ctx.Done():
					return ctx.Err()
				case <-tick.C:
				}
				if err := stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
					return err
				}
			}
		},
	})
	mux := http.NewServeMux()
	connecthttp.Mount(mux, rpc)
	return mux
}

// TestDrainEndsStreams stops the server while server streams run: each
// ends promptly with UNAVAILABLE (so its client resumes elsewhere), and
// the shutdown completes cleanly instead of running into its timeout.
func TestDrainEndsStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h2c  bool
		opts []connecthttp.Option
	}{
		{"grpc", true, []connecthttp.Option{connecthttp.WithGRPC()}},
		{"connect", false, nil},
		{"grpc-web", false, []connecthttp.Option{connecthttp.WithGRPCWeb()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rb := startStub(t, stubStreams, bridge.ServeOptions{
				ShutdownTimeout:      5 * time.Second,
				ResponseWriteTimeout: 200 * time.Millisecond,
			})
			client := connect.NewClient(connecthttp.NewTransport(newHTTPClient(t, tt.h2c), rb.URL, tt.opts...))
			stream, err := client.CallServerStream(t.Context(), stubWatch, &healthpb.HealthCheckRequest{})
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			defer stream.Close()
			var res healthpb.HealthCheckResponse
			if err := stream.Receive(&res); err != nil {
				t.Fatalf("first message: %v", err)
			}

			stopped := make(chan error, 1)
			start := time.Now()
			go func() { stopped <- rb.Stop() }()
			for {
				err = stream.Receive(&res)
				if err != nil {
					break
				}
			}
			if connect.CodeOf(err) != connect.CodeUnavailable {
				t.Errorf("stream ended with %v, want UNAVAILABLE", err)
			}
			if err := within(t, stopped, 10*time.Second, "Serve did not return"); err != nil {
				t.Errorf("Serve: %v, want a clean shutdown", err)
			}
			t.Logf("stream ended and shutdown completed in %v", time.Since(start))
		})
	}
}
