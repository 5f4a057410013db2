// Package health serves the standard gRPC health protocol
// (grpc.health.v1.Health: Check and Watch) on a connect v2 server, so
// Kubernetes gRPC probes, grpc-health-probe and mesh health checks see the
// bridge's real state.
//
// Why not connectrpc.com/grpchealth: it is built on connect v1 and serves
// through its own http.Handler, so it would run a second RPC stack beside
// ours (none of our interceptors for recovery, logging, metrics and traces,
// separate limits) and pull connect v1 into the binary; a /v2 release does
// not exist. The protocol is small, so this package implements it on the v2
// *connect.Server with the message types grpc-go publishes for it.
package health

import (
	"context"
	"sync"

	"connectrpc.com/connect/v2"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Service name of the health protocol and its procedures.
const (
	ServiceName    = "grpc.health.v1.Health"
	CheckProcedure = "/grpc.health.v1.Health/Check"
	WatchProcedure = "/grpc.health.v1.Health/Watch"
	serving        = healthpb.HealthCheckResponse_SERVING
	notServing     = healthpb.HealthCheckResponse_NOT_SERVING
	serviceUnknown = healthpb.HealthCheckResponse_SERVICE_UNKNOWN
)

// Server holds the serving status of the whole server ("") and of each
// named service, and notifies watchers of every change.
type Server struct {
	mu       sync.Mutex
	statuses map[string]healthpb.HealthCheckResponse_ServingStatus
	watchers map[chan struct{}]struct{}
	shutdown bool
	done     chan struct{} // closed by Shutdown: ends every Watch
}

// New returns a Server reporting SERVING for "" and for each service.
func New(services ...string) *Server {
	s := &Server{
		statuses: map[string]healthpb.HealthCheckResponse_ServingStatus{"": serving},
		watchers: map[chan struct{}]struct{}{},
		done:     make(chan struct{}),
	}
	for _, name := range services {
		s.statuses[name] = serving
	}
	return s
}

// SetServing sets the status of service ("" for the whole server). After
// Shutdown it does nothing: a draining server never comes back.
func (s *Server) SetServing(service string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return
	}
	status := notServing
	if ok {
		status = serving
	}
	s.statuses[service] = status
	s.notifyLocked()
}

// Shutdown reports NOT_SERVING for everything, tells every watcher, and
// then ends their streams so that an HTTP server's graceful shutdown is not
// held open by them. Call it when draining starts, before refusing calls.
func (s *Server) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return
	}
	s.shutdown = true
	for name := range s.statuses {
		s.statuses[name] = notServing
	}
	s.notifyLocked()
	close(s.done)
}

// Status returns the status of service, and whether it is known.
func (s *Server) Status(service string) (healthpb.HealthCheckResponse_ServingStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.statuses[service]
	return st, ok
}

func (s *Server) notifyLocked() {
	for ch := range s.watchers {
		select {
		case ch <- struct{}{}:
		default: // a change is already pending; the watcher reads the latest
		}
	}
}

// Register adds the Health service to server. Its schema comes from
// grpc-go's generated descriptors, so reflection describes it too.
func (s *Server) Register(server *connect.Server) {
	methods := healthpb.File_grpc_health_v1_health_proto.Services().ByName("Health").Methods()
	server.Register(
		connect.Method{
			Spec: connect.Spec{
				StreamType:       connect.StreamTypeUnary,
				Procedure:        CheckProcedure,
				Schema:           methods.ByName("Check"),
				IdempotencyLevel: connect.IdempotencyNoSideEffects,
			},
			Handler: s.check,
		},
		connect.Method{
			Spec: connect.Spec{
				StreamType: connect.StreamTypeServer,
				Procedure:  WatchProcedure,
				Schema:     methods.ByName("Watch"),
			},
			Handler: s.watch,
		},
	)
}

func (s *Server) check(_ context.Context, _ connect.Spec, stream connect.ServerStream) error {
	var req healthpb.HealthCheckRequest
	if err := stream.Receive(&req); err != nil {
		return err
	}
	status, ok := s.Status(req.GetService())
	if !ok {
		// The protocol's answer for a service the server does not know.
		return connect.Errorf(connect.CodeNotFound, "unknown service %q", req.GetService())
	}
	return stream.Send(&healthpb.HealthCheckResponse{Status: status})
}

// watch sends the current status at once and then every change, until the
// caller leaves or the server shuts down. An unknown service is reported as
// SERVICE_UNKNOWN rather than failed, as the protocol asks, so a watcher
// sees it appear.
func (s *Server) watch(ctx context.Context, _ connect.Spec, stream connect.ServerStream) error {
	var req healthpb.HealthCheckRequest
	if err := stream.Receive(&req); err != nil {
		return err
	}
	changed := make(chan struct{}, 1)
	s.mu.Lock()
	s.watchers[changed] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, changed)
		s.mu.Unlock()
	}()

	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	send := func() error {
		status, ok := s.Status(req.GetService())
		if !ok {
			status = serviceUnknown
		}
		if status == last {
			return nil
		}
		last = status
		return stream.Send(&healthpb.HealthCheckResponse{Status: status})
	}
	if err := send(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			if err := send(); err != nil {
				return err
			}
		case <-s.done:
			// NOT_SERVING has been (or is now) sent; end the stream so the
			// connection can drain.
			return send()
		}
	}
}
