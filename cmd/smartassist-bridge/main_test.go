package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/testing/protocmp"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type syncBuffer = rpctest.SyncBuffer

// running is the command running in the background.
type running struct {
	rpcAddr, adminAddr string
	stderr             *syncBuffer
	cancel             context.CancelFunc
	done               chan error
}

// start runs the command with args and env until the test ends (or stop
// is called), once it is ready.
func start(t *testing.T, args []string, environ map[string]string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	r := &running{stderr: new(syncBuffer), cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		r.done <- run(ctx, args, env(environ), r.stderr, func(rpcAddr, adminAddr string) {
			r.rpcAddr, r.adminAddr = rpcAddr, adminAddr
			close(ready)
		})
	}()
	select {
	case <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("run returned before it was ready: %v\n%s", err, r.stderr)
	}
	t.Cleanup(func() {
		cancel()
		<-r.done // stop checks the result; this only waits
	})
	return r
}

// stop cancels run's context and returns run's result.
func (r *running) stop() error {
	r.cancel()
	err := <-r.done
	r.done <- err // for the cleanup
	return err
}

// newHTTPClient returns an HTTP/1.1 client whose idle connections are
// closed at cleanup.
func newHTTPClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func get(t *testing.T, hc *http.Client, url string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, string(body), err
}

func sampleRequest() *smartassistv1.GetConversationRequest {
	return &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: demo.ConversationID}
}

func checkSample(t *testing.T, got *smartassistv1.GetConversationResponse, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("GetConversation: %v", err)
	}
	conv, err := mapping.Conversation(demo.Conversation)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&smartassistv1.GetConversationResponse{Conversation: conv}, got, protocmp.Transform()); diff != "" {
		t.Errorf("GetConversation (-want +got):\n%s", diff)
	}
}

// refused reports whether a TCP connection to addr is refused.
func refused(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	return err != nil
}

// TestRunDemo runs the command as a user first would, with no upstream:
// the sample is served over Connect, the admin endpoints answer, and on
// cancellation readiness fails during the drain and run returns nil.
func TestRunDemo(t *testing.T) {
	t.Parallel()
	r := start(t, []string{
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--drain-delay", "300ms", "--log-format", "json",
	}, nil)
	hc := newHTTPClient(t)

	client := smartassistv1connect.NewConversationServiceClient(connect.NewClient(
		connecthttp.NewTransport(hc, "http://"+r.rpcAddr, connecthttp.WithProtoJSON())))
	got, err := client.GetConversation(t.Context(), sampleRequest())
	checkSample(t, got, err)
	_, err = client.GetConversation(t.Context(), &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: "c-other"})
	if code := connect.CodeOf(err); code != connect.CodeNotFound {
		t.Errorf("another conversation: code %v (%v), want not_found", code, err)
	}

	admin := "http://" + r.adminAddr
	for _, tc := range []struct{ path, want string }{
		{"/healthz", "ok\ncache: local\nquota: local\n"},
		{"/readyz", "ready\n"},
	} {
		status, body, err := get(t, hc, admin+tc.path)
		if err != nil || status != http.StatusOK || body != tc.want {
			t.Errorf("GET %s = %d %q, %v; want 200 %q", tc.path, status, body, err, tc.want)
		}
	}
	status, body, err := get(t, hc, admin+"/metrics")
	if err != nil || status != http.StatusOK || !strings.Contains(body, "smartassist_bridge_rpcs_total") {
		t.Errorf("GET /metrics = %d, %v; want 200 with smartassist_bridge_rpcs_total", status, err)
	}

	// Stop, and watch readiness fail while the bridge drains.
	hc.CloseIdleConnections()
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	sawDraining := false
	for !sawDraining {
		status, _, err := get(t, hc, admin+"/readyz")
		if err != nil {
			t.Fatalf("GET /readyz during shutdown: %v (never saw 503)", err)
		}
		sawDraining = status == http.StatusServiceUnavailable
		if !sawDraining {
			time.Sleep(5 * time.Millisecond)
		}
	}
	hc.CloseIdleConnections()
	if err := <-stopped; err != nil {
		t.Errorf("run: %v, want nil after a graceful shutdown\n%s", err, r.stderr)
	}
	if !refused(r.rpcAddr) || !refused(r.adminAddr) {
		t.Error("a port still accepts connections after run returned")
	}
	log := r.stderr.String()
	for _, want := range []string{"DEMO MODE", `"msg":"rpc"`, "shutdown complete"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestRunClientCredentials runs the command against a fake SmartAssist
// with client credentials read from a file: the fake verifies the JWTs the
// command mints, and the secret appears in no log.
func TestRunClientCredentials(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-from-a-file-5d2e"
	fake := smartassisttest.NewServer(t,
		smartassisttest.WithSecret("cs-run", []byte(secret)),
		smartassisttest.WithConversation(demo.StreamID, demo.ConversationID, demo.Conversation),
		smartassisttest.WithAccountID("acc-run"),
	)
	r := start(t, []string{
		"--listen", "127.0.0.1:0", "--admin-listen", "",
		"--upstream", fake.URL, "--account-id", "acc-run", "--client-id", "cs-run", "--allow-unauthenticated-callers",
		"--log-level", "debug",
	}, map[string]string{"SMARTASSIST_BRIDGE_CLIENT_SECRET_FILE": writeFile(t, "secret", secret+"\n")})
	if r.adminAddr != "" {
		t.Errorf("admin server on %s, want none", r.adminAddr)
	}
	hc := newHTTPClient(t)
	client := smartassistv1connect.NewConversationServiceClient(connect.NewClient(
		connecthttp.NewTransport(hc, "http://"+r.rpcAddr)))
	got, err := client.GetConversation(t.Context(), sampleRequest())
	checkSample(t, got, err)

	hc.CloseIdleConnections()
	if err := r.stop(); err != nil {
		t.Errorf("run: %v", err)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("SmartAssist saw %d requests, want 1", len(reqs))
	}
	jwt := reqs[0].Header.Get("auth")
	log := r.stderr.String()
	if strings.Contains(log, secret) || strings.Contains(log, jwt) {
		t.Errorf("the log carries the secret or the minted JWT:\n%s", log)
	}
	if !strings.Contains(log, "client-credentials") {
		t.Errorf("the log does not say which auth mode runs:\n%s", log)
	}
}

// TestRunErrors checks how run fails before serving.
func TestRunErrors(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })

	tests := []struct {
		name    string
		args    []string
		wantErr error    // matched with errors.Is, when set
		want    []string // each must be in the error
		wantNil bool
	}{
		{name: "help", args: []string{"-h"}, wantNil: true},
		{name: "unknown flag", args: []string{"--verbose"}, wantErr: errUsage},
		{name: "invalid setting", args: []string{"--log-format", "xml"}, want: []string{"--log-format"}},
		{name: "listen address in use", args: []string{"--listen", busy.Addr().String(), "--admin-listen", ""}, want: []string{"--listen"}},
		{name: "admin address in use", args: []string{"--listen", "127.0.0.1:0", "--admin-listen", busy.Addr().String()}, want: []string{"--admin-listen"}},
		{name: "upstream the client refuses", args: []string{"--listen", "127.0.0.1:0", "--admin-listen", "", "--upstream", "https://smartassist.example/?"}, want: []string{"--upstream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr syncBuffer
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := run(ctx, tt.args, env(nil), &stderr, func(string, string) {
				t.Errorf("run became ready with %v", tt.args)
				cancel()
			})
			switch {
			case tt.wantNil:
				if err != nil {
					t.Errorf("run: %v, want nil", err)
				}
			case err == nil:
				t.Fatalf("run succeeded with %v", tt.args)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("run: %v, want %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("run: %q lacks %q", err, w)
				}
			}
		})
	}
}
