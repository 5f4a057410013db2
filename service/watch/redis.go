package watch

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

// redisNames are the Redis names of one watched key. The key itself is
// hashed: it may name a credential identity. The hash tag keeps all three
// in one Redis Cluster slot.
type redisNames struct {
	lease   string // which replica polls: its id, with a TTL
	state   string // the latest state, for replicas joining later
	updates string // pub/sub channel of new states
}

func namesFor(key string) redisNames {
	sum := sha256.Sum256([]byte(key))
	base := "smartassist-bridge:watch:{" + hex.EncodeToString(sum[:16]) + "}:"
	return redisNames{lease: base + "lease", state: base + "state", updates: base + "updates"}
}

// leaseTTL: a lease outlives a few rounds, so that a holder that misses
// one renewal keeps it, and expires soon after its holder dies.
func leaseTTL(interval time.Duration) time.Duration {
	return max(3*interval, time.Second)
}

// stateTTL bounds how long the latest state of a key nobody watches any
// more stays in Redis.
const stateTTL = 10 * time.Minute

// takeLease takes the lease if it is free, or renews it if this replica
// holds it, in one round trip. It returns 1 when this replica holds it.
var takeLease = redis.NewScript(`
local holder = redis.call("GET", KEYS[1])
if holder == ARGV[1] then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	return 1
end
if not holder then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return 1
end
return 0
`)

// dropLease frees the lease if this replica holds it, so that another
// replica takes over at its next round instead of at the TTL.
var dropLease = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0
`)

// lease reports whether this replica holds the key's lease for the next
// round.
func (p *poller) lease(ctx context.Context, interval time.Duration) (bool, error) {
	n, err := takeLease.Run(ctx, p.h.cfg.Redis, []string{p.names.lease}, p.h.id, leaseTTL(interval).Milliseconds()).Int()
	return n == 1, err
}

// release gives the lease up if this replica holds it, once the poller
// stops.
func (p *poller) release() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := dropLease.Run(ctx, p.h.cfg.Redis, []string{p.names.lease}, p.h.id).Err(); err != nil {
		p.h.log.Debug("watch: releasing a lease", slog.String("key", shortKey(p.key)), slog.Any("error", err))
	}
}

// payload is a state as published: when it was fetched (unix ns, big
// endian), then its deterministic encoding. The time lets a replica drop
// a state older than one it already has.
func payload(at int64, enc []byte) []byte {
	b := make([]byte, 8, 8+len(enc))
	binary.BigEndian.PutUint64(b, uint64(at))
	return append(b, enc...)
}

// publish stores a new state as the key's latest and announces it. It
// runs even when the poller has just ended, so that a CLOSED state
// reaches the other replicas.
func (p *poller) publish(ctx context.Context, at int64, enc []byte, interval time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(interval, time.Second))
	defer cancel()
	msg := payload(at, enc)
	_, err := p.h.cfg.Redis.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, p.names.state, msg, stateTTL)
		pipe.Publish(ctx, p.names.updates, msg)
		return nil
	})
	return err
}

// relay is a subscription to the states another replica publishes.
type relay struct {
	ps       *redis.PubSub
	messages <-chan *redis.Message
}

func (r *relay) close() { _ = r.ps.Close() }

// join subscribes to the key's states, then reads the latest stored one,
// in that order so that nothing published in between is missed. It
// returns nil when Redis fails; the caller tries again next round.
func (p *poller) join(ctx context.Context) *relay {
	h := p.h
	ps := h.cfg.Redis.Subscribe(ctx, p.names.updates)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		if ctx.Err() == nil {
			h.redisFailed(err)
		}
		return nil
	}
	r := &relay{ps: ps, messages: ps.Channel()}
	p.refresh(ctx)
	return r
}

// refresh delivers the latest state stored in Redis, if newer than this
// replica's: on joining, and after an outage, during which published
// states may have been missed. It reports whether the poller ended.
func (p *poller) refresh(ctx context.Context) bool {
	b, err := p.h.cfg.Redis.Get(ctx, p.names.state).Bytes()
	switch {
	case err == nil:
		return p.receive(string(b))
	case !errors.Is(err, redis.Nil) && ctx.Err() == nil:
		p.h.redisFailed(err)
	}
	return false
}

// receive delivers a state another replica published; it reports whether
// the poller ended (the state was CLOSED).
func (p *poller) receive(msg string) bool {
	if len(msg) < 8 {
		return false
	}
	at := int64(binary.BigEndian.Uint64([]byte(msg[:8])))
	enc := []byte(msg[8:])
	c := new(smartassistv1.Conversation)
	if err := proto.Unmarshal(enc, c); err != nil {
		p.h.log.Warn("watch: an undecodable state in Redis", slog.String("key", shortKey(p.key)), slog.Any("error", err))
		return false
	}
	_, final := p.deliver(c, enc, at)
	return final
}
