package watch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// run polls until the conversation closes, a fetch fails for good, or the
// poller is stopped. With Redis, each round first takes or renews the
// key's lease: the holder polls and publishes; the others relay what it
// publishes; a Redis failure makes this replica poll for itself that
// round.
func (p *poller) run(ctx context.Context) {
	h := p.h
	var relay *relay
	if h.cfg.Redis != nil {
		defer func() {
			if relay != nil {
				relay.close()
			}
			p.release()
		}()
	}
	failures := 0
	local := false // the last round polled locally because Redis failed
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		var messages <-chan *redis.Message
		if relay != nil {
			messages = relay.messages
		}
		select {
		case <-ctx.Done():
			return
		case m, ok := <-messages:
			if !ok { // the subscription is gone; join again next round
				relay.close()
				relay = nil
				continue
			}
			if p.receive(m.Payload) {
				return
			}
			continue
		case <-timer.C:
		}

		wait := h.interval()
		poll, publish := true, false
		if h.cfg.Redis != nil {
			if relay == nil {
				relay = p.join(ctx)
			}
			leader, err := p.lease(ctx, wait)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				h.redisFailed(err)
				local = true
			default:
				h.redisOK()
				poll, publish = leader, leader
				if local && !leader && p.refresh(ctx) {
					return // what was published meanwhile was CLOSED
				}
				local = false
			}
		}
		if poll {
			var final bool
			wait, final = p.poll(ctx, wait, &failures, publish)
			if final {
				return
			}
		}
		timer.Reset(wait)
	}
}

// poll fetches once and delivers the state if it changed, publishing it
// when this replica holds the lease. It returns the wait before the next
// round and whether the poller ended.
func (p *poller) poll(ctx context.Context, wait time.Duration, failures *int, publish bool) (time.Duration, bool) {
	h := p.h
	c, err := p.fetch(ctx)
	if ctx.Err() != nil {
		return wait, true
	}
	if h.cfg.Hooks.Fetched != nil {
		h.cfg.Hooks.Fetched(err)
	}
	if err == nil && c == nil {
		err = errors.New("watch: fetch returned no conversation")
	}
	if err != nil {
		if h.cfg.Retryable != nil && h.cfg.Retryable(err) {
			*failures++
			return backoff(wait, *failures), false
		}
		p.finish(Update{Err: err})
		return wait, true
	}
	*failures = 0
	enc, err := encode(c)
	if err != nil {
		p.finish(Update{Err: err})
		return wait, true
	}
	at := p.stamp()
	fresh, final := p.deliver(c, enc, at)
	if fresh && publish {
		if err := p.publish(ctx, at, enc, wait); err != nil && ctx.Err() == nil {
			h.redisFailed(err)
		}
	}
	return wait, final
}

// redisFailed notes a Redis failure: pollers poll locally until it
// answers again. Only the first failure of an outage is logged.
func (h *Hub) redisFailed(err error) {
	if h.cfg.Hooks.RedisFailed != nil {
		h.cfg.Hooks.RedisFailed(err)
	}
	h.redisMu.Lock()
	first := !h.redisDown
	h.redisDown = true
	h.redisMu.Unlock()
	if first {
		h.log.Warn("watch: Redis failed; polling locally until it answers", slog.Any("error", err))
	}
}

func (h *Hub) redisOK() {
	h.redisMu.Lock()
	was := h.redisDown
	h.redisDown = false
	h.redisMu.Unlock()
	if was {
		h.log.Info("watch: Redis answers again; sharing pollers across replicas")
	}
}

// stamp is the time a state fetched now is known by: the clock, or just
// after the last state if the clock went back, so that a fresh state is
// never taken for an old one.
func (p *poller) stamp() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(time.Now().UnixNano(), p.lastAt+1)
}
