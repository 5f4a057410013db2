// Command fakeupstream is a small, fast stand-in for SmartAssist's
// conversation API, for benchmarks and end-to-end tests on loopback.
//
// It answers
//
//	GET /agentassist/api/v1/public/{streamId}/conversations/{conversationId}
//
// with the "Sample Response" of SmartAssist's documentation (the demo
// package's copy) for any stream and conversation id, and
//
//	GET /agentassist/api/v1/public/{streamId}/conversations?skip=&limit=&status=&source=&language=
//
// with a list of 12 conversations built from it (every status of the docs'
// enum), over HTTP/1.1 and h2c on one port. A request without an `auth`
// header gets 401, as from SmartAssist; any non-empty value is accepted.
//
// Usage:
//
//	fakeupstream [--listen 127.0.0.1:19100] [--delay 0] [--slow-prefix c-slow- --slow-delay 3s]
//	             [--quota 10/10s] [--echo-id]
//	             [--live-prefix c-live- --live-period 2s --live-close-after 40s]
//
// --delay holds every answer; --slow-delay holds only the answers for
// conversation ids that start with --slow-prefix, so a load test can keep a
// few calls in flight for longer than a server's drain delay.
//
// --quota N/DURATION enforces SmartAssist's per-account rate limit per
// `accountId` header, strictly: never more than N accepted requests in any
// interval of length DURATION (a sliding log, not a bucket). Beyond it the
// answer is 429 with Retry-After (whole seconds, rounded up) and SmartAssist's
// body {"errors":[{"msg":"You've exceeded the per-minute rate limit","code":"429"}]}.
//
// --echo-id answers with "_id" set to the requested id, so a client can tell
// the answers for different ids apart (off by default: the sample stays byte
// for byte).
//
// Ids starting with --live-prefix are live conversations: ACTIVE, with
// updatedAt advancing every --live-period from the first request for that id,
// and CLOSED from --live-close-after on.
//
// GET /_stats reports what it was asked, as JSON:
//
//	{"requests":N,"ok":N,"rateLimited":N,"unauthorized":N,"byConversation":{"id":N},"list":N}
//
// (requests counts every conversation and list request, whatever the
// answer); POST /_stats/reset zeroes it. GET /served is the "ok" count.
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
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("fakeupstream: %v", err)
	}
}

func run() error {
	var (
		opts   options
		listen = flag.String("listen", "127.0.0.1:19100", "address to listen on (loopback only)")
		quotaS = flag.String("quota", "", "per-accountId limit N/DURATION, e.g. 10/10s; empty or 0: none")
	)
	flag.DurationVar(&opts.delay, "delay", 0, "hold every answer this long")
	flag.StringVar(&opts.slowPrefix, "slow-prefix", "", "conversation ids with this prefix are answered after --slow-delay")
	flag.DurationVar(&opts.slowDelay, "slow-delay", 3*time.Second, "delay for ids with --slow-prefix")
	flag.BoolVar(&opts.echoID, "echo-id", false, `answer with "_id" set to the requested conversation id`)
	flag.StringVar(&opts.livePrefix, "live-prefix", "", "conversation ids with this prefix are live: they change every --live-period and close after --live-close-after")
	flag.DurationVar(&opts.livePeriod, "live-period", 2*time.Second, "how often a live conversation's updatedAt advances")
	flag.DurationVar(&opts.liveCloseAfter, "live-close-after", 40*time.Second, "when a live conversation turns CLOSED, from its first request")
	flag.Parse()
	var err error
	if opts.quota, err = parseQuota(*quotaS); err != nil {
		return err
	}
	u, err := newUpstream(opts)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           u.handler(),
		Protocols:         &protocols,
		ReadHeaderTimeout: 5 * time.Second,
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log.Printf("fakeupstream: listening on %s (quota %q)", ln.Addr(), *quotaS)

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
	s := u.snapshot()
	log.Printf("fakeupstream: %d requests, %d ok, %d rate-limited", s.Requests, s.OK, s.RateLimited)
	return nil
}
