// Command loadclient drives steady gRPC load at smartassist-bridge, and probes
// its gRPC health, for the zero-loss rollout test (e2e/rollout/run).
//
// Usage:
//
//	loadclient load   --addr 127.0.0.1:19080 --workers 8 --duration 20s [--slow-workers 2 --slow-conversation-id c-slow-1]
//	loadclient health --addr 127.0.0.1:19081 --service smartassist.v1.ConversationService --want NOT_SERVING --wait 3s
//
// load runs --workers closed-loop callers of
// smartassist.v1.ConversationService/GetConversation for --duration, then
// waits for the calls in flight, prints
//
//	sent=N ok=N failed=N
//
// (with the failures by code, and latency percentiles), and exits 1 when any
// call failed. A call counts as ok only when it returned OK and the
// conversation it carried has the expected id. The client does not retry:
// grpc-go's transparent retry of streams that never reached a server (or
// that a GOAWAY refused) stays on, as in every real client, but nothing that
// a server started is repeated.
//
// health polls grpc.health.v1.Health/Check until the service reports --want
// and exits 0, or exits 1 when --wait passes first.
//
// The repository generates Connect code only, so calls go through
// ClientConn.Invoke with the generated message types.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

const getConversation = "/smartassist.v1.ConversationService/GetConversation"

// The demo-mode sample; see the --upstream flag of smartassist-bridge.
const (
	sampleStreamID       = "st-3bf09bef-f979-5489-b337-f465bd5db1f4"
	sampleConversationID = "c-3c04346-e522-4c53-9e03-c9566d859aad"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadclient load|health [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "load":
		err = runLoad(os.Args[2:])
	case "health":
		err = runHealth(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want load or health)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadclient: %v\n", err)
		os.Exit(1)
	}
}

func dial(addr string) (*grpc.ClientConn, error) {
	// passthrough: the address is used as written, without a DNS lookup.
	return grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// result is the outcome of one call.
type result struct {
	code    string
	latency time.Duration
	detail  string
}

func runLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	var (
		addr        = fs.String("addr", "127.0.0.1:19080", "host:port of the gRPC endpoint (h2c)")
		workers     = fs.Int("workers", 8, "concurrent closed-loop callers")
		duration    = fs.Duration("duration", 20*time.Second, "how long to start new calls")
		timeout     = fs.Duration("timeout", 10*time.Second, "deadline of each call (sent as grpc-timeout)")
		streamID    = fs.String("stream-id", sampleStreamID, "request stream_id")
		convID      = fs.String("conversation-id", sampleConversationID, "request conversation_id")
		wantID      = fs.String("want-id", sampleConversationID, "conversation id every answer must carry")
		slowWorkers = fs.Int("slow-workers", 0, "of --workers, how many call with --slow-conversation-id")
		slowConvID  = fs.String("slow-conversation-id", "c-slow-1", "conversation_id of the slow workers")
		auth        = fs.String("auth", "", `value of the "auth" request header (passed upstream by the bridge); empty: none`)
		maxCalls    = fs.Int64("max-calls", 2_000_000, "upper bound on calls, a safety stop")
	)
	_ = fs.Parse(args)
	if *workers < 1 || *slowWorkers < 0 || *slowWorkers > *workers {
		return fmt.Errorf("--workers must be >= 1 and 0 <= --slow-workers <= --workers")
	}

	conn, err := dial(*addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", *addr, err)
	}
	defer conn.Close()

	start := time.Now()
	stopAt := start.Add(*duration)
	var started atomic.Int64 // for --max-calls
	results := make([][]result, *workers)
	var wg sync.WaitGroup
	for w := range *workers {
		req := &smartassistv1.GetConversationRequest{StreamId: *streamID, ConversationId: *convID}
		if w < *slowWorkers {
			req.ConversationId = *slowConvID
		}
		wg.Go(func() {
			for time.Now().Before(stopAt) && started.Add(1) <= *maxCalls {
				results[w] = append(results[w], call(conn, req, *timeout, *auth, *wantID, start))
			}
		})
	}
	wg.Wait()

	var (
		all      []time.Duration
		ok       int
		failures = map[string]int{}
		details  []string
	)
	for _, rs := range results {
		for _, r := range rs {
			if r.code == "OK" {
				ok++
				all = append(all, r.latency)
				continue
			}
			failures[r.code]++
			if len(details) < 20 {
				details = append(details, r.detail)
			}
		}
	}
	total := ok
	for _, n := range failures {
		total += n
	}
	failed := total - ok
	slices.Sort(all)
	fmt.Printf("sent=%d ok=%d failed=%d\n", total, ok, failed)
	if failed > 0 {
		codes := make([]string, 0, len(failures))
		for c, n := range failures {
			codes = append(codes, fmt.Sprintf("%s=%d", c, n))
		}
		sort.Strings(codes)
		fmt.Printf("failures: %s\n", strings.Join(codes, " "))
		for _, d := range details {
			fmt.Printf("  %s\n", d)
		}
	}
	fmt.Printf("latency: p50=%s p99=%s max=%s over %s (%.0f calls/s)\n",
		pct(all, 0.50), pct(all, 0.99), pct(all, 1), time.Since(start).Round(time.Millisecond),
		float64(total)/time.Since(start).Seconds())
	if failed > 0 {
		os.Exit(1)
	}
	return nil
}

func call(conn *grpc.ClientConn, req *smartassistv1.GetConversationRequest, timeout time.Duration, auth, wantID string, start time.Time) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "auth", auth)
	}
	t0 := time.Now()
	resp := new(smartassistv1.GetConversationResponse)
	err := conn.Invoke(ctx, getConversation, req, resp)
	r := result{code: "OK", latency: time.Since(t0)}
	at := t0.Sub(start).Round(time.Millisecond)
	switch {
	case err != nil:
		st := status.Convert(err)
		r.code = st.Code().String()
		msg, _, _ := strings.Cut(st.Message(), "\n")
		r.detail = fmt.Sprintf("t=%s %s: %s", at, st.Code(), msg)
	case resp.GetConversation().GetId() != wantID:
		r.code = "BAD_RESPONSE"
		r.detail = fmt.Sprintf("t=%s conversation id %q, want %q", at, resp.GetConversation().GetId(), wantID)
	}
	return r
}

// pct is the q-quantile of sorted durations (nearest rank).
func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i].Round(10 * time.Microsecond)
}

func runHealth(args []string) error {
	fs := flag.NewFlagSet("health", flag.ExitOnError)
	var (
		addr    = fs.String("addr", "127.0.0.1:19081", "host:port of the gRPC endpoint (h2c)")
		service = fs.String("service", "", `service name to check; "" is the whole server`)
		want    = fs.String("want", "SERVING", "status to wait for: SERVING or NOT_SERVING")
		wait    = fs.Duration("wait", 5*time.Second, "how long to poll before giving up")
		every   = fs.Duration("every", 50*time.Millisecond, "poll interval")
	)
	_ = fs.Parse(args)
	wantStatus, ok := healthpb.HealthCheckResponse_ServingStatus_value[*want]
	if !ok {
		return fmt.Errorf("--want %q: not a health status", *want)
	}
	conn, err := dial(*addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", *addr, err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(*wait)
	last := "no answer"
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: *service})
		cancel()
		switch {
		case err == nil && int32(resp.GetStatus()) == wantStatus:
			fmt.Printf("health %s %q: %s\n", *addr, *service, resp.GetStatus())
			return nil
		case err == nil:
			last = resp.GetStatus().String()
		case status.Code(err) == codes.Unavailable || errors.Is(err, context.DeadlineExceeded):
			last = "unreachable: " + status.Convert(err).Message()
		default:
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("health %s %q: still %s after %s, want %s", *addr, *service, last, *wait, *want)
		}
		time.Sleep(*every)
	}
}
