// Command fakeupstream is a small, fast stand-in for SmartAssist's
// conversation API, for benchmarks and rollout tests on loopback.
//
// It answers
//
//	GET /agentassist/api/v1/public/{streamId}/conversations/{conversationId}
//
// with the "Sample Response" of SmartAssist's documentation (the demo
// package's copy) for any stream and conversation id, over
// HTTP/1.1 and h2c on one port. A request without an `auth` header gets 401,
// as from SmartAssist; any non-empty value is accepted.
//
// Usage:
//
//	fakeupstream [--listen 127.0.0.1:19100] [--delay 0] [--slow-prefix c-slow- --slow-delay 3s]
//
// --delay holds every answer; --slow-delay holds only the answers for
// conversation ids that start with --slow-prefix, so a load test can keep a
// few calls in flight for longer than a server's drain delay.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
)

var conversationJSON = demo.Conversation

func main() {
	if err := run(); err != nil {
		log.Fatalf("fakeupstream: %v", err)
	}
}

func run() error {
	var (
		listen     = flag.String("listen", "127.0.0.1:19100", "address to listen on (loopback only)")
		delay      = flag.Duration("delay", 0, "hold every answer this long")
		slowPrefix = flag.String("slow-prefix", "", "conversation ids with this prefix are answered after --slow-delay")
		slowDelay  = flag.Duration("slow-delay", 3*time.Second, "delay for ids with --slow-prefix")
	)
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var served atomic.Int64
	length := strconv.Itoa(len(conversationJSON))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agentassist/api/v1/public/{streamId}/conversations/{conversationId}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("auth") == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"msg":"auth header missing","code":401}]}`))
			return
		}
		hold := *delay
		if *slowPrefix != "" && strings.HasPrefix(r.PathValue("conversationId"), *slowPrefix) {
			hold = *slowDelay
		}
		if hold > 0 {
			select {
			case <-time.After(hold):
			case <-r.Context().Done():
				return
			}
		}
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Content-Length", length)
		_, _ = w.Write(conversationJSON)
		served.Add(1)
	})
	mux.HandleFunc("GET /served", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, served.Load())
	})

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           mux,
		Protocols:         &protocols,
		ReadHeaderTimeout: 5 * time.Second,
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log.Printf("fakeupstream: listening on %s", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Printf("fakeupstream: served %d conversations", served.Load())
	return nil
}
