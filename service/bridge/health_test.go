package bridge_test

import (
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
)

// TestHealthCheck asks grpc-go's health client what a running bridge
// reports.
func TestHealthCheck(t *testing.T) {
	t.Parallel()
	b, _ := sampleBridge(t)
	client := healthpb.NewHealthClient(newGRPCConn(t, b.Addr))

	tests := []struct {
		service  string
		want     healthpb.HealthCheckResponse_ServingStatus
		wantCode codes.Code
	}{
		{"", healthpb.HealthCheckResponse_SERVING, codes.OK},
		{smartassistv1connect.ConversationServiceName, healthpb.HealthCheckResponse_SERVING, codes.OK},
		{"no.such.Service", 0, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			t.Parallel()
			res, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: tt.service})
			if code := status.Code(err); code != tt.wantCode {
				t.Fatalf("Check(%q): code %v (%v), want %v", tt.service, code, err, tt.wantCode)
			}
			if got := res.GetStatus(); got != tt.want {
				t.Errorf("Check(%q) = %v, want %v", tt.service, got, tt.want)
			}
		})
	}
}

// TestHealthWatch watches the bridge's health with grpc-go: SERVING, then
// NOT_SERVING once the health server shuts down, and then the end of the
// stream, so that a draining server is not held open by watchers.
func TestHealthWatch(t *testing.T) {
	t.Parallel()
	for _, service := range []string{"", smartassistv1connect.ConversationServiceName} {
		t.Run(service, func(t *testing.T) {
			t.Parallel()
			b, _ := sampleBridge(t)
			client := healthpb.NewHealthClient(newGRPCConn(t, b.Addr))

			stream, err := client.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: service})
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			first, err := stream.Recv()
			if err != nil {
				t.Fatalf("first Recv: %v", err)
			}
			if first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("first status %v, want SERVING", first.GetStatus())
			}

			b.Health().Shutdown()
			var got []healthpb.HealthCheckResponse_ServingStatus
			for {
				res, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("Recv after Shutdown: %v, want NOT_SERVING then the end of the stream", err)
				}
				got = append(got, res.GetStatus())
			}
			want := []healthpb.HealthCheckResponse_ServingStatus{healthpb.HealthCheckResponse_NOT_SERVING}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("statuses after Shutdown (-want +got):\n%s", diff)
			}

			// Check agrees, and the RPC service itself keeps answering
			// until the listener closes.
			res, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
			if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Errorf("Check after Shutdown = %v, %v; want NOT_SERVING", res.GetStatus(), err)
			}
		})
	}
}

// TestReflection lists the bridge's services with grpc-go's reflection v1
// client, as grpcurl would.
func TestReflection(t *testing.T) {
	t.Parallel()
	b, _ := sampleBridge(t)
	client := reflectionpb.NewServerReflectionClient(newGRPCConn(t, b.Addr))

	stream, err := client.ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatalf("ServerReflectionInfo: %v", err)
	}
	req := &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}
	if err := stream.Send(req); err != nil {
		t.Fatalf("Send: %v", err)
	}
	res, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	var got []string
	for _, s := range res.GetListServicesResponse().GetService() {
		got = append(got, s.GetName())
	}
	slices.Sort(got)
	want := []string{
		"grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection",
		"smartassist.v1.ConversationService",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}

	// The service's schema is served too, so tools can call it.
	req = &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{
			FileContainingSymbol: smartassistv1connect.ConversationServiceName,
		},
	}
	if err := stream.Send(req); err != nil {
		t.Fatalf("Send: %v", err)
	}
	res, err = stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	if len(res.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Errorf("no file descriptor for %s: %v", smartassistv1connect.ConversationServiceName, res)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("CloseSend: %v", err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv after CloseSend: %v, want EOF", err)
	}
}
