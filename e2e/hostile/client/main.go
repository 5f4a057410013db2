// Command client calls GetConversation on one smartassist-bridge for several
// conversations at once, for e2e/hostile/run.
//
// Usage:
//
//	client --addr 127.0.0.1:19401 --auth hostile-test [--timeout 10s] [--read-mask id,status] c-zeros c-zeros c-objects c-objects
//
// Each argument is one call; all start together (gRPC over h2c through the
// generated Connect client, with the header `auth: <--auth>` that the bridge
// passes through to SmartAssist). It prints one line per call, in argument
// order:
//
//	call id=c-zeros code=resource_exhausted reason=UPSTREAM_RESPONSE_TOO_COMPLEX duration=0.412s size=0 message="…"
//
// where size is the encoded size of a successful response and message the
// error's first line, at most 400 bytes. It exits 0 when every call got an
// answer (an error code is an answer), 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	connect "connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"connectrpc.com/connect/v2/connectproto"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
)

// The documented sample's stream; the fake answers any.
const streamID = "st-3bf09bef-f979-5489-b337-f465bd5db1f4"

func main() {
	addr := flag.String("addr", "", "host:port of the bridge (h2c)")
	auth := flag.String("auth", "hostile-test", `"auth" header sent; the bridge passes it through`)
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of each call")
	readMask := flag.String("read-mask", "", "comma-separated read_mask paths; empty: none")
	flag.Parse()
	if *addr == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: client --addr host:port [flags] conversation-id...")
		os.Exit(2)
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: &protocols}}
	transport := connecthttp.NewTransport(hc, "http://"+*addr, connecthttp.WithGRPC(),
		connecthttp.WithReadMaxBytes(64<<20))
	client := smartassistv1connect.NewConversationServiceClient(connect.NewClient(transport))

	ids := flag.Args()
	lines := make([]string, len(ids))
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			<-gate
			lines[i] = call(client, id, *auth, *readMask, *timeout)
		})
	}
	close(gate)
	wg.Wait()
	for _, l := range lines {
		fmt.Println(l)
	}
}

func call(client smartassistv1connect.ConversationServiceClient, id, auth, readMask string, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx, info := connect.NewClientContext(ctx)
	info.RequestHeader().Set("auth", auth)
	req := &smartassistv1.GetConversationRequest{StreamId: streamID, ConversationId: id}
	if readMask != "" {
		req.ReadMask = &fieldmaskpb.FieldMask{Paths: strings.Split(readMask, ",")}
	}
	t0 := time.Now()
	resp, err := client.GetConversation(ctx, req)
	d := time.Since(t0)
	code, reason, msg, size := "ok", "-", "", 0
	if err != nil {
		code = connect.CodeOf(err).String()
		if errors.Is(err, context.DeadlineExceeded) {
			code = connect.CodeDeadlineExceeded.String()
		}
		var cerr *connect.Error
		if errors.As(err, &cerr) {
			msg = cerr.Message()
			for _, det := range cerr.Details() {
				if m, err := connectproto.UnmarshalErrorDetail(det); err == nil {
					if ei, ok := m.(*errdetails.ErrorInfo); ok {
						reason = ei.GetReason()
					}
				}
			}
		} else {
			msg = err.Error()
		}
		msg, _, _ = strings.Cut(msg, "\n")
		if len(msg) > 400 {
			msg = msg[:400] + "…"
		}
	} else {
		size = proto.Size(resp)
		if got := resp.GetConversation().GetId(); got != id {
			code, msg = "wrong_conversation", fmt.Sprintf("got %q", got)
		}
	}
	return fmt.Sprintf("call id=%s code=%s reason=%s duration=%.3fs size=%d message=%q", id, code, reason, d.Seconds(), size, msg)
}
