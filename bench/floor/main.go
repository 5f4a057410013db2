// Command floor is the least a Connect server can do to answer
// GetConversation: a bare connect v2 handler, with no interceptors, that
// returns one conversation mapped once at start (the demo sample). bench/run
// measures the bridge's cache-hit path against it: the bridge cannot be
// cheaper than this, and its cache, auth and logging should cost little on
// top.
//
// Usage:
//
//	floor [--listen 127.0.0.1:19203]
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
)

type prebuilt struct {
	smartassistv1connect.UnimplementedConversationServiceHandler
	resp *smartassistv1.GetConversationResponse
}

func (p prebuilt) GetConversation(context.Context, *smartassistv1.GetConversationRequest) (*smartassistv1.GetConversationResponse, error) {
	return p.resp, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:19203", "address to serve on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen); err != nil {
		log.Fatalf("floor: %v", err)
	}
}

func run(ctx context.Context, listen string) error {
	conv, err := mapping.Conversation(demo.Conversation)
	if err != nil {
		return err
	}
	rpc := connect.NewServer()
	smartassistv1connect.RegisterConversationServiceHandler(rpc, prebuilt{resp: &smartassistv1.GetConversationResponse{Conversation: conv}})
	mux := http.NewServeMux()
	connecthttp.Mount(mux, rpc)
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: protocols, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
