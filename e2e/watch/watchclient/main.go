// Command watchclient opens many WatchConversation streams of one
// conversation, spread round-robin over several smartassist-bridge replicas,
// and reports what each watcher received (e2e/watch/run, issue 11).
//
// Usage:
//
//	watchclient --addrs 127.0.0.1:19401,127.0.0.1:19402,127.0.0.1:19403 \
//	    --watchers 100 --conversation-id c-live-1 --timeout 90s
//
// Each watcher reads its stream to the end. It counts as ok when the stream
// ended with OK and its last message was the conversation CLOSED. Prints
//
//	watchers=N ok=N failed=N elapsed=D
//
// then the number of messages per watcher (min, median, max, and how many
// watchers got each count), how many messages repeated the previous one
// unchanged (a watch should send only changes), the distinct updatedAt
// values seen across all watchers, and the failures; exits 1 when any
// watcher failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	connect "connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
)

func main() {
	failed, err := run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "watchclient: %v\n", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// watch is what one watcher saw.
type watch struct {
	replica  string
	messages int
	repeats  int      // messages equal to the one before
	updates  []string // updatedAt of each message
	last     string   // status of the last message
	first    time.Duration
	err      error
}

func run() (failed bool, err error) {
	var (
		addrs    = flag.String("addrs", "", "comma-separated host:port of the bridges (h2c)")
		watchers = flag.Int("watchers", 100, "concurrent watchers")
		streamID = flag.String("stream-id", "st-3bf09bef-f979-5489-b337-f465bd5db1f4", "stream_id")
		convID   = flag.String("conversation-id", "c-live-1", "conversation_id to watch")
		account  = flag.String("account-id", "", "account_id to name; empty: none")
		auth     = flag.String("auth", "demo-token", `"auth" header sent (the bridge passes it through); empty: none`)
		timeout  = flag.Duration("timeout", 90*time.Second, "deadline of each stream")
	)
	flag.Parse()
	if *addrs == "" || *watchers < 1 {
		return false, fmt.Errorf("--addrs is required and --watchers must be positive")
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: &protocols}}
	var clients []smartassistv1connect.ConversationServiceClient
	replicas := strings.Split(*addrs, ",")
	for _, a := range replicas {
		t := connecthttp.NewTransport(hc, "http://"+a, connecthttp.WithGRPC())
		clients = append(clients, smartassistv1connect.NewConversationServiceClient(connect.NewClient(t)))
	}

	req := &smartassistv1.WatchConversationRequest{StreamId: *streamID, ConversationId: *convID, AccountId: *account}
	results := make([]watch, *watchers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *watchers {
		wg.Go(func() {
			i := w % len(clients)
			results[w] = watchOne(clients[i], req, *auth, *timeout, start)
			results[w].replica = replicas[i]
		})
	}
	wg.Wait()
	return report(results, time.Since(start)), nil
}

func watchOne(client smartassistv1connect.ConversationServiceClient, req *smartassistv1.WatchConversationRequest, auth string, timeout time.Duration, start time.Time) (w watch) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx, info := connect.NewClientContext(ctx)
	if auth != "" {
		info.RequestHeader().Set("auth", auth)
	}
	stream, err := client.WatchConversation(ctx, req)
	if err != nil {
		w.err = err
		return w
	}
	defer stream.Close()
	var prev *smartassistv1.Conversation
	for {
		msg, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			if w.last != "CLOSED" {
				w.err = fmt.Errorf("stream ended OK after %d messages, the last one %q, not CLOSED", w.messages, w.last)
			}
			return w
		}
		if err != nil {
			w.err = fmt.Errorf("after %d messages: %w", w.messages, err)
			return w
		}
		c := msg.GetConversation()
		if w.messages == 0 {
			w.first = time.Since(start)
		}
		w.messages++
		if prev != nil && proto.Equal(prev, c) {
			w.repeats++
		}
		prev = c
		w.last = c.GetStatus()
		w.updates = append(w.updates, c.GetUpdatedAt().AsTime().Format(time.RFC3339Nano))
	}
}

// report prints the figures and says whether any watcher failed.
func report(results []watch, elapsed time.Duration) bool {
	var (
		counts   []int
		byCount  = map[int]int{}
		repeats  int
		distinct = map[string]bool{}
		firsts   []time.Duration
		failures []string
	)
	for _, w := range results {
		counts = append(counts, w.messages)
		byCount[w.messages]++
		repeats += w.repeats
		for _, u := range w.updates {
			distinct[u] = true
		}
		if w.messages > 0 {
			firsts = append(firsts, w.first)
		}
		if w.err != nil {
			msg, _, _ := strings.Cut(w.err.Error(), "\n")
			failures = append(failures, fmt.Sprintf("via %s: %s", w.replica, msg))
		}
	}
	fmt.Printf("watchers=%d ok=%d failed=%d elapsed=%.1fs\n", len(results), len(results)-len(failures), len(failures), elapsed.Seconds())
	slices.Sort(counts)
	hist := make([]string, 0, len(byCount))
	for _, n := range slices.Sorted(maps.Keys(byCount)) {
		hist = append(hist, fmt.Sprintf("%d:%d", n, byCount[n]))
	}
	fmt.Printf("messages per watcher: min=%d median=%d max=%d (messages:watchers %s)\n",
		counts[0], counts[len(counts)/2], counts[len(counts)-1], strings.Join(hist, " "))
	fmt.Printf("distinct updatedAt seen: %d; messages repeating the one before: %d\n", len(distinct), repeats)
	slices.Sort(firsts)
	if len(firsts) > 0 {
		fmt.Printf("first message after: min=%s median=%s max=%s\n",
			firsts[0].Round(time.Millisecond), firsts[len(firsts)/2].Round(time.Millisecond), firsts[len(firsts)-1].Round(time.Millisecond))
	}
	for i, f := range failures {
		if i == 10 {
			fmt.Printf("  … and %d more\n", len(failures)-i)
			break
		}
		fmt.Printf("  %s\n", f)
	}
	return len(failures) > 0
}
