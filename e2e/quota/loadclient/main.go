// Command loadclient calls GetConversation on several smartassist-bridge
// replicas, round-robin, for the quota stewardship test (e2e/quota/run).
//
// Usage:
//
//	loadclient burst  --addrs 127.0.0.1:19301,127.0.0.1:19302,127.0.0.1:19303 --calls 150 --conversations 5 --prefix c-burst- --timeout 10s
//	loadclient steady --addrs ... --workers 8 --duration 10s --conversations 3 --prefix c-steady- --timeout 5s
//
// burst starts --calls calls at once: call i goes to replica i mod len(addrs)
// and asks for conversation <prefix><i mod conversations + 1>. steady runs
// --workers closed-loop callers for --duration, each call to the next
// replica and the next conversation. Both then print
//
//	sent=N ok=N failed=N elapsed=D
//
// with the calls per replica, the failures by code (each with the time it
// started, from the start of the run) and latency percentiles, and exit 1
// when any call failed. A call is ok only when it returned OK with the
// conversation it asked for (the fake upstream runs with --echo-id).
//
// Calls are gRPC over h2c through the generated Connect client, with the
// header `auth: <--auth>` that the bridge passes through to SmartAssist.
// With --account-id, every other call names that account in account_id and
// the others name none, so the bridge's default account (its --account-id)
// and the named one must be the same budget. Nothing is retried here.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	connect "connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
)

// The documented sample's stream; the fake answers any.
const streamID = "st-3bf09bef-f979-5489-b337-f465bd5db1f4"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadclient burst|steady [flags]")
		os.Exit(2)
	}
	var (
		failed bool
		err    error
	)
	switch os.Args[1] {
	case "burst", "steady":
		failed, err = run(os.Args[1], os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want burst or steady)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadclient: %v\n", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// replica is one bridge and its client.
type replica struct {
	addr   string
	client smartassistv1connect.ConversationServiceClient
	calls  atomic.Int64
}

func dial(addrs []string) []*replica {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: &protocols}}
	rs := make([]*replica, len(addrs))
	for i, a := range addrs {
		transport := connecthttp.NewTransport(hc, "http://"+a, connecthttp.WithGRPC())
		rs[i] = &replica{addr: a, client: smartassistv1connect.NewConversationServiceClient(connect.NewClient(transport))}
	}
	return rs
}

// result is the outcome of one call.
type result struct {
	code    string
	at      time.Duration // start, from the start of the run
	latency time.Duration
	detail  string
}

type caller struct {
	replicas []*replica
	auth     string
	account  string
	timeout  time.Duration
	start    time.Time
}

func (c *caller) call(n int64, r *replica, conversationID string) result {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ctx, info := connect.NewClientContext(ctx)
	if c.auth != "" {
		info.RequestHeader().Set("auth", c.auth)
	}
	req := &smartassistv1.GetConversationRequest{StreamId: streamID, ConversationId: conversationID}
	if c.account != "" && n%2 == 0 {
		req.AccountId = c.account
	}
	r.calls.Add(1)
	t0 := time.Now()
	resp, err := r.client.GetConversation(ctx, req)
	at := t0.Sub(c.start).Round(time.Millisecond)
	res := result{code: "OK", at: at, latency: time.Since(t0)}
	switch {
	case err != nil:
		res.code = connect.CodeOf(err).String()
		if errors.Is(err, context.DeadlineExceeded) {
			res.code = connect.CodeDeadlineExceeded.String()
		}
		msg, _, _ := strings.Cut(err.Error(), "\n")
		res.detail = fmt.Sprintf("t=%s %s via %s: %s", at, conversationID, r.addr, msg)
	case resp.GetConversation().GetId() != conversationID:
		res.code = "WRONG_CONVERSATION"
		res.detail = fmt.Sprintf("t=%s asked %s via %s, got %q", at, conversationID, r.addr, resp.GetConversation().GetId())
	}
	return res
}

func run(mode string, args []string) (failed bool, err error) {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	var (
		addrs    = fs.String("addrs", "", "comma-separated host:port of the bridges (h2c)")
		calls    = fs.Int("calls", 150, "burst: calls started at once")
		workers  = fs.Int("workers", 8, "steady: closed-loop callers")
		duration = fs.Duration("duration", 10*time.Second, "steady: how long to start new calls")
		nConv    = fs.Int("conversations", 5, "distinct conversations asked for")
		prefix   = fs.String("prefix", "c-e2e-", "conversation id prefix; ids are <prefix>1 … <prefix>N")
		timeout  = fs.Duration("timeout", 10*time.Second, "deadline of each call")
		auth     = fs.String("auth", "demo-token", `"auth" header sent (the bridge passes it through); empty: none`)
		account  = fs.String("account-id", "", "name this account_id in every other call; empty: never")
		maxCalls = fs.Int64("max-calls", 100_000, "steady: upper bound on calls, a safety stop")
	)
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if *addrs == "" || *calls < 1 || *workers < 1 || *nConv < 1 {
		return false, fmt.Errorf("--addrs is required; --calls, --workers and --conversations must be positive")
	}
	c := &caller{replicas: dial(strings.Split(*addrs, ",")), auth: *auth, account: *account, timeout: *timeout}
	conv := func(n int64) string { return fmt.Sprintf("%s%d", *prefix, n%int64(*nConv)+1) }

	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		next    atomic.Int64
	)
	record := func(r result) {
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}
	c.start = time.Now()
	switch mode {
	case "burst":
		// All goroutines wait on one gate, so the calls leave together.
		gate := make(chan struct{})
		for i := range *calls {
			n := int64(i)
			wg.Go(func() {
				<-gate
				record(c.call(n, c.replicas[n%int64(len(c.replicas))], conv(n)))
			})
		}
		c.start = time.Now()
		close(gate)
	case "steady":
		stopAt := c.start.Add(*duration)
		for range *workers {
			wg.Go(func() {
				for time.Now().Before(stopAt) {
					n := next.Add(1) - 1
					if n >= *maxCalls {
						return
					}
					record(c.call(n, c.replicas[n%int64(len(c.replicas))], conv(n)))
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(c.start)
	return report(results, c.replicas, elapsed), nil
}

// report prints the figures and says whether any call failed.
func report(results []result, replicas []*replica, elapsed time.Duration) bool {
	var (
		latencies []time.Duration
		failures  = map[string]int{}
		bad       []result
	)
	for _, r := range results {
		if r.code == "OK" {
			latencies = append(latencies, r.latency)
			continue
		}
		failures[r.code]++
		bad = append(bad, r)
	}
	failed := len(results) - len(latencies)
	fmt.Printf("sent=%d ok=%d failed=%d elapsed=%.1fs\n", len(results), len(latencies), failed, elapsed.Seconds())
	per := make([]string, len(replicas))
	for i, r := range replicas {
		per[i] = fmt.Sprintf("%s=%d", r.addr, r.calls.Load())
	}
	fmt.Printf("calls per replica: %s\n", strings.Join(per, " "))
	if failed > 0 {
		codes := make([]string, 0, len(failures))
		for c, n := range failures {
			codes = append(codes, fmt.Sprintf("%s=%d", c, n))
		}
		sort.Strings(codes)
		fmt.Printf("failures: %s\n", strings.Join(codes, " "))
		slices.SortFunc(bad, func(a, b result) int { return cmp.Compare(a.at, b.at) })
		for i, r := range bad {
			if i == 10 {
				fmt.Printf("  … and %d more\n", len(bad)-i)
				break
			}
			fmt.Printf("  %s\n", r.detail)
		}
	}
	slices.Sort(latencies)
	fmt.Printf("latency of ok calls: p50=%s p99=%s max=%s\n", pct(latencies, 0.50), pct(latencies, 0.99), pct(latencies, 1))
	return failed > 0
}

// pct is the q-quantile of sorted durations (nearest rank).
func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i].Round(100 * time.Microsecond)
}
