package health_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connectinprocess"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/smartassist-bridge/smartassist-bridge/service/health"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	serving    = healthpb.HealthCheckResponse_SERVING
	notServing = healthpb.HealthCheckResponse_NOT_SERVING
	unknown    = healthpb.HealthCheckResponse_SERVICE_UNKNOWN
)

var (
	checkSpec = connect.Spec{StreamType: connect.StreamTypeUnary, Procedure: health.CheckProcedure}
	watchSpec = connect.Spec{StreamType: connect.StreamTypeServer, Procedure: health.WatchProcedure}
)

// newClient serves hs in process and returns a client of it.
func newClient(hs *health.Server) *connect.Client {
	server := connect.NewServer()
	hs.Register(server)
	return connect.NewClient(connectinprocess.New(server))
}

func check(ctx context.Context, c *connect.Client, service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	var res healthpb.HealthCheckResponse
	err := c.CallUnary(ctx, checkSpec, &healthpb.HealthCheckRequest{Service: service}, &res)
	return res.GetStatus(), err
}

// watcher reads a Watch stream in the background.
type watcher struct {
	updates chan healthpb.HealthCheckResponse_ServingStatus
	end     chan error // nil for a clean end of stream
}

func watch(t *testing.T, ctx context.Context, c *connect.Client, service string) *watcher {
	t.Helper()
	stream, err := c.CallServerStream(ctx, watchSpec, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("Watch(%q): %v", service, err)
	}
	w := &watcher{updates: make(chan healthpb.HealthCheckResponse_ServingStatus, 16), end: make(chan error, 1)}
	go func() {
		defer stream.Close()
		for {
			var res healthpb.HealthCheckResponse
			err := stream.Receive(&res)
			if errors.Is(err, io.EOF) {
				w.end <- nil
				return
			}
			if err != nil {
				w.end <- err
				return
			}
			w.updates <- res.GetStatus()
		}
	}()
	return w
}

// next returns the next status, failing the test if the stream ends first.
func (w *watcher) next(t *testing.T) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	select {
	case st := <-w.updates:
		return st
	case err := <-w.end:
		t.Fatalf("Watch ended (%v), want another status", err)
	}
	return 0
}

// ended fails the test unless the stream ends cleanly with no further
// status.
func (w *watcher) ended(t *testing.T) {
	t.Helper()
	select {
	case st := <-w.updates:
		t.Fatalf("Watch sent %v, want the end of the stream", st)
	case err := <-w.end:
		if err != nil {
			t.Fatalf("Watch ended with %v, want a clean end", err)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	hs := health.New("svc.A", "svc.B")
	hs.SetServing("svc.B", false)
	c := newClient(hs)

	tests := []struct {
		service  string
		want     healthpb.HealthCheckResponse_ServingStatus
		wantCode connect.Code
	}{
		{"", serving, 0},
		{"svc.A", serving, 0},
		{"svc.B", notServing, 0},
		{"svc.C", 0, connect.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			t.Parallel()
			got, err := check(t.Context(), c, tt.service)
			if code := connect.CodeOf(err); err != nil && code != tt.wantCode || err == nil && tt.wantCode != 0 {
				t.Fatalf("Check(%q): %v, want code %v", tt.service, err, tt.wantCode)
			}
			if got != tt.want {
				t.Errorf("Check(%q) = %v, want %v", tt.service, got, tt.want)
			}
		})
	}
}

func TestStatusAndShutdown(t *testing.T) {
	t.Parallel()
	hs := health.New("svc.A")
	hs.SetServing("svc.new", true)

	type status struct {
		st    healthpb.HealthCheckResponse_ServingStatus
		known bool
	}
	get := func(name string) status {
		st, ok := hs.Status(name)
		return status{st, ok}
	}
	if diff := cmp.Diff([]status{{serving, true}, {serving, true}, {serving, true}, {0, false}},
		[]status{get(""), get("svc.A"), get("svc.new"), get("svc.none")}, cmp.AllowUnexported(status{})); diff != "" {
		t.Errorf("before Shutdown (-want +got):\n%s", diff)
	}

	hs.Shutdown()
	hs.Shutdown() // idempotent
	hs.SetServing("svc.A", true)
	hs.SetServing("svc.later", true)
	if diff := cmp.Diff([]status{{notServing, true}, {notServing, true}, {notServing, true}, {0, false}},
		[]status{get(""), get("svc.A"), get("svc.new"), get("svc.later")}, cmp.AllowUnexported(status{})); diff != "" {
		t.Errorf("after Shutdown, a draining server never comes back (-want +got):\n%s", diff)
	}
}

// TestWatch follows one service through changes and the shutdown.
func TestWatch(t *testing.T) {
	t.Parallel()
	hs := health.New("svc.A")
	c := newClient(hs)

	w := watch(t, t.Context(), c, "svc.A")
	if got := w.next(t); got != serving {
		t.Fatalf("first status %v, want SERVING", got)
	}
	hs.SetServing("svc.A", false)
	if got := w.next(t); got != notServing {
		t.Fatalf("after SetServing(false): %v, want NOT_SERVING", got)
	}
	hs.SetServing("svc.A", true)
	if got := w.next(t); got != serving {
		t.Fatalf("after SetServing(true): %v, want SERVING", got)
	}
	hs.SetServing("other", false) // not this watcher's business: no repeat
	hs.Shutdown()
	if got := w.next(t); got != notServing {
		t.Fatalf("after Shutdown: %v, want NOT_SERVING", got)
	}
	w.ended(t)
}

// TestWatchUnknownService reports SERVICE_UNKNOWN rather than failing, so
// a watcher sees the service appear.
func TestWatchUnknownService(t *testing.T) {
	t.Parallel()
	hs := health.New()
	c := newClient(hs)

	w := watch(t, t.Context(), c, "svc.late")
	if got := w.next(t); got != unknown {
		t.Fatalf("first status %v, want SERVICE_UNKNOWN", got)
	}
	hs.SetServing("svc.late", true)
	if got := w.next(t); got != serving {
		t.Fatalf("after registration: %v, want SERVING", got)
	}
	hs.Shutdown()
	if got := w.next(t); got != notServing {
		t.Fatalf("after Shutdown: %v, want NOT_SERVING", got)
	}
	w.ended(t)
}

// TestWatchAfterShutdown: a watch started while draining learns it and
// ends at once.
func TestWatchAfterShutdown(t *testing.T) {
	t.Parallel()
	for _, service := range []string{"", "svc.unknown"} {
		t.Run(service, func(t *testing.T) {
			t.Parallel()
			hs := health.New()
			hs.Shutdown()
			w := watch(t, t.Context(), newClient(hs), service)
			want := notServing
			if service != "" {
				want = unknown
			}
			if got := w.next(t); got != want {
				t.Fatalf("status %v, want %v", got, want)
			}
			w.ended(t)
		})
	}
}

// TestWatchCanceled: a watcher that leaves frees its handler, and the
// server still notifies the others.
func TestWatchCanceled(t *testing.T) {
	t.Parallel()
	hs := health.New()
	c := newClient(hs)

	ctx, cancel := context.WithCancel(t.Context())
	leaving := watch(t, ctx, c, "")
	staying := watch(t, t.Context(), c, "")
	for _, w := range []*watcher{leaving, staying} {
		if got := w.next(t); got != serving {
			t.Fatalf("first status %v, want SERVING", got)
		}
	}
	cancel()
	if err := <-leaving.end; !errors.Is(err, context.Canceled) && connect.CodeOf(err) != connect.CodeCanceled {
		t.Errorf("canceled Watch ended with %v, want canceled", err)
	}
	hs.SetServing("", false)
	if got := staying.next(t); got != notServing {
		t.Errorf("after SetServing(false): %v, want NOT_SERVING", got)
	}
	hs.Shutdown()
	staying.ended(t)
}

// TestConcurrentChanges races status changes against many watchers and
// checks that each ends having seen the final NOT_SERVING (run with -race).
func TestConcurrentChanges(t *testing.T) {
	t.Parallel()
	hs := health.New("svc")
	c := newClient(hs)
	const watchers = 20

	var ws []*watcher
	for range watchers {
		w := watch(t, t.Context(), c, "svc")
		if got := w.next(t); got != serving {
			t.Fatalf("first status %v, want SERVING", got)
		}
		ws = append(ws, w)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				hs.SetServing("svc", (i+j)%2 == 0)
				_, _ = check(t.Context(), c, "svc")
			}
		})
	}
	wg.Wait()
	hs.Shutdown()
	for _, w := range ws {
		var last healthpb.HealthCheckResponse_ServingStatus
		for done := false; !done; {
			select {
			case last = <-w.updates:
			case err := <-w.end:
				if err != nil {
					t.Fatalf("Watch ended with %v", err)
				}
				done = true
			}
		}
		// Drain what arrived just before the end.
		for len(w.updates) > 0 {
			last = <-w.updates
		}
		if last != notServing {
			t.Errorf("watcher's last status %v, want NOT_SERVING", last)
		}
	}
}
