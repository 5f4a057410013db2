// Package watch follows conversations for WatchConversation: one upstream
// poller per watched key, shared by every watcher of that key in the
// process and, with Redis, across replicas.
//
// A Hub polls a key while at least one watcher subscribes to it, delivers
// a state only when it changed, and stops polling when the conversation is
// CLOSED, a fetch fails for good, or the last watcher leaves. With Redis,
// one replica at a time holds a lease on the key and polls; it publishes
// each new state, and the others relay it to their watchers without
// polling. Redis is an optimisation only: when it fails, each replica
// polls for itself, and rejoins once Redis answers again.
package watch

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	mathrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

// Fetch reads a conversation's current state from upstream.
type Fetch func(ctx context.Context) (*smartassistv1.Conversation, error)

// Update is one delivery to a watcher: a new state of the conversation,
// or the error that ended the watch.
type Update struct {
	Conversation *smartassistv1.Conversation
	Err          error
}

// Hooks observe a Hub, for metrics. Each may be nil; they are called from
// pollers and must not block.
type Hooks struct {
	// Fetched is called after each upstream fetch, with its error.
	Fetched func(err error)
	// Pollers is called with the number of pollers the Hub runs, each
	// time it changes.
	Pollers func(n int)
	// RedisFailed is called when a Redis command fails and pollers fall
	// back to polling locally.
	RedisFailed func(err error)
}

// Config configures a Hub.
type Config struct {
	// MinInterval is the shortest time between two polls of one
	// conversation (--watch-interval). 0 means 1s.
	MinInterval time.Duration
	// Interval, if set, is the interval between polls given the number of
	// pollers this Hub runs, so that the account's request budget is
	// shared; it is never shorter than MinInterval. Nil means MinInterval.
	Interval func(active int) time.Duration
	// Retryable says which fetch errors are transient: the poller keeps
	// going, backing off, and watchers keep the last state. Any other
	// error ends the watch. Nil means no error is retryable.
	Retryable func(error) bool
	// Redis, if set, shares one poller per key across every replica using
	// the same Redis.
	Redis *redis.Client
	// Hooks observe the Hub.
	Hooks Hooks
	// Logger receives warnings about Redis; nil discards them. Keys are
	// logged only as a short hash.
	Logger *slog.Logger
}

// Hub runs the pollers. Its methods are safe for concurrent use.
type Hub struct {
	cfg Config
	log *slog.Logger
	id  string // this replica's lease value

	mu      sync.Mutex
	pollers map[string]*poller
	closed  bool
	wg      sync.WaitGroup

	redisMu   sync.Mutex
	redisDown bool // last Redis command failed; logged once per outage
}

// New returns a Hub.
func New(cfg Config) *Hub {
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{cfg: cfg, log: log, id: rand.Text(), pollers: make(map[string]*poller)}
}

// Subscribe follows the conversation that key names, fetched with fetch.
// The channel yields the current state first, then each changed state
// (compared by deterministic proto encoding, so updatedAt or any content),
// and is closed after the state whose status is CLOSED, after an
// Update{Err} for an error that is not retryable, or when ctx ends. A slow
// reader misses intermediate states, never the latest: the channel holds
// one update and a newer one replaces it.
//
// Every subscriber of one key shares one poller, which uses the fetch of
// the subscriber that started it: key must name the conversation and the
// credential identity fetch uses, so that any subscriber's fetch would do.
func (h *Hub) Subscribe(ctx context.Context, key string, fetch Fetch) <-chan Update {
	s := &subscriber{ch: make(chan Update, 1)}
	h.mu.Lock()
	if h.closed || ctx.Err() != nil {
		h.mu.Unlock()
		close(s.ch)
		return s.ch
	}
	p := h.pollers[key]
	if p == nil {
		p = h.startLocked(key, fetch)
	}
	p.mu.Lock()
	p.subs[s] = struct{}{}
	if p.latest != nil {
		s.offer(Update{Conversation: p.latest})
	}
	s.stop = context.AfterFunc(ctx, func() { h.leave(p, s) })
	p.mu.Unlock()
	h.mu.Unlock()
	return s.ch
}

// Pollers returns how many pollers the Hub runs: one per key with
// subscribers, whether it polls upstream or relays another replica's.
func (h *Hub) Pollers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pollers)
}

// Close stops every poller, closes every subscriber's channel, gives up
// this replica's leases, and waits for the pollers to return. Subscribe
// after Close returns a closed channel.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	for _, p := range h.pollers {
		h.removeLocked(p)
		p.endLocked(nil)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// subscriber is one watcher's channel, written only under its poller's
// lock, so a send never meets a close.
type subscriber struct {
	ch   chan Update
	stop func() bool // unregisters the context callback
}

// offer hands u to the watcher, replacing an update it has not read yet.
func (s *subscriber) offer(u Update) {
	select {
	case s.ch <- u:
		return
	default:
	}
	select {
	case <-s.ch:
	default:
	}
	s.ch <- u // cannot block: the poller is the only sender
}

// poller follows one key.
type poller struct {
	h      *Hub
	key    string
	names  redisNames
	fetch  Fetch
	cancel context.CancelFunc

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	latest *smartassistv1.Conversation // last state delivered
	last   []byte                      // its deterministic encoding
	lastAt int64                       // when it was fetched (unix ns), on whichever replica
	ended  bool
}

func (h *Hub) startLocked(key string, fetch Fetch) *poller {
	ctx, cancel := context.WithCancel(context.Background())
	p := &poller{h: h, key: key, names: namesFor(key), fetch: fetch, cancel: cancel, subs: make(map[*subscriber]struct{})}
	h.pollers[key] = p
	h.notifyPollersLocked()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		p.run(ctx)
	}()
	return p
}

func (h *Hub) notifyPollersLocked() {
	if h.cfg.Hooks.Pollers != nil {
		h.cfg.Hooks.Pollers(len(h.pollers))
	}
}

// leave removes s from p; the last subscriber leaving stops p, cancelling
// a fetch in flight.
func (h *Hub) leave(p *poller, s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.subs[s]; !ok {
		return // the poller ended first and closed it
	}
	delete(p.subs, s)
	close(s.ch)
	if len(p.subs) == 0 && !p.ended {
		p.ended = true
		p.cancel()
		h.removeLocked(p)
	}
}

// finish ends p with a last update (a fatal error): every subscriber gets
// it, then its channel is closed.
func (p *poller) finish(u Update) {
	h := p.h
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(p)
	p.endLocked(&u)
}

func (h *Hub) removeLocked(p *poller) {
	if h.pollers[p.key] == p {
		delete(h.pollers, p.key)
		h.notifyPollersLocked()
	}
}

// endLocked delivers last, if any, closes every subscriber and stops the
// poller. The caller holds h.mu.
func (p *poller) endLocked(last *Update) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	p.cancel()
	for s := range p.subs {
		if last != nil {
			s.offer(*last)
		}
		s.stop()
		close(s.ch)
		delete(p.subs, s)
	}
}

// deliver records a state fetched at at (unix ns, on whichever replica)
// and hands it to every subscriber, unless it is older than the last one
// or the same. It reports whether the state was new, and whether it was
// final (CLOSED), which ends the poller. It holds the Hub's lock
// throughout, so that no subscriber joins between a CLOSED state and the
// end.
func (p *poller) deliver(c *smartassistv1.Conversation, enc []byte, at int64) (fresh, final bool) {
	h := p.h
	h.mu.Lock()
	defer h.mu.Unlock()
	p.mu.Lock()
	if p.ended || at <= p.lastAt {
		p.mu.Unlock()
		return false, false
	}
	p.lastAt = at
	if p.latest != nil && bytes.Equal(enc, p.last) {
		p.mu.Unlock()
		return false, false
	}
	p.latest, p.last = c, enc
	if !isClosed(c) {
		for s := range p.subs {
			s.offer(Update{Conversation: c})
		}
		p.mu.Unlock()
		return true, false
	}
	p.mu.Unlock()
	h.removeLocked(p)
	p.endLocked(&Update{Conversation: c})
	return true, true
}

func isClosed(c *smartassistv1.Conversation) bool {
	return strings.EqualFold(c.GetStatus(), "CLOSED")
}

// encode is the deterministic encoding states are compared by.
func encode(c *smartassistv1.Conversation) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(c)
}

// interval is the time between two polls now.
func (h *Hub) interval() time.Duration {
	d := h.cfg.MinInterval
	if h.cfg.Interval != nil {
		if a := h.cfg.Interval(h.Pollers()); a > d {
			d = a
		}
	}
	return d
}

// backoff is the wait after the n-th transient failure in a row:
// exponential from the interval, capped at 32 intervals, with jitter so
// that pollers failing together do not retry together.
func backoff(interval time.Duration, n int) time.Duration {
	d := interval << min(n, 5)
	return d/2 + mathrand.N(d/2+1)
}

// shortKey names a key in logs without revealing it.
func shortKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:6])
}
