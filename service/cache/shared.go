package cache

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

// pollInterval is how often a replica waiting for another one's fill looks
// for its result. A fill is an upstream call of tens to hundreds of
// milliseconds; 25ms adds little to it and costs Redis 40 small scripts a
// second per waiting key and replica.
const pollInterval = 25 * time.Millisecond

// keyPrefix starts every Redis key of the cache. The version changes with
// the value's encoding, so replicas of different versions do not misread
// each other.
const keyPrefix = "smartassist-bridge:conversation:v1:"

// acquireScript reads the value; if there is none it takes the fill lock.
// One round trip, and atomic: a replica either sees the value or competes
// for the lock. Returns {1, value, pttl}, {2} (the caller holds the lock) or
// {3} (another replica holds it).
var acquireScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  return {1, v, redis.call('PTTL', KEYS[1])}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {2}
end
return {3}
`)

// publishScript stores the value (if its TTL is positive) and releases the
// fill lock if the caller still holds it, so others see the value no later
// than the lock's release.
var publishScript = redis.NewScript(`
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
return 1
`)

// renewScript extends the fill lock if the caller still holds it.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// shared is the Redis side of a Cache.
type shared struct {
	cfg *Config
	rdb *redis.Client

	mu      sync.Mutex
	down    bool      // Redis failed; not used until retryAt
	retryAt time.Time // guarded by mu
	closed  bool
	stop    chan struct{}
	probes  sync.WaitGroup
}

func newShared(cfg *Config) *shared {
	return &shared{cfg: cfg, rdb: cfg.Redis, stop: make(chan struct{})}
}

// redisKeys are the names of a key's value and fill lock. The hash keeps
// ids and credentials out of Redis; the hash tag keeps both keys in one
// Redis Cluster slot, as a script's keys must be.
type redisKeys struct{ value, lock string }

func keysFor(k Key) redisKeys {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, f := range [...]string{k.Credential, k.Account, k.Stream, k.Conversation} {
		// Length prefixes: ("ab","c") and ("a","bc") must not collide.
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
		h.Write([]byte(f))
	}
	tag := "{" + hex.EncodeToString(h.Sum(nil)) + "}"
	return redisKeys{value: keyPrefix + tag + ":value", lock: keyPrefix + tag + ":lock"}
}

// load answers a local miss through Redis: the value another replica
// stored, or the fill, by this replica if it takes the lock, else by the
// one that holds it. handled is false when Redis is not usable and fill has
// not been called: the caller then fills locally.
func (s *shared) load(ctx context.Context, key Key, maxTTL time.Duration, c *Cache, fill Fill) (e Entry, handled bool, err error) {
	if !s.usable() {
		return Entry{}, false, nil
	}
	rk := keysFor(key)
	token := rand.Text()
	lockTTL := s.cfg.FillLockTTL.Milliseconds()
	for {
		res, err := s.call(ctx, func(ctx context.Context) (any, error) {
			return acquireScript.Run(ctx, s.rdb, []string{rk.value, rk.lock}, token, lockTTL).Result()
		})
		if err != nil {
			if ctx.Err() != nil {
				return Entry{}, true, context.Cause(ctx)
			}
			return Entry{}, false, nil
		}
		r, _ := res.([]any)
		state := int64(0)
		if len(r) > 0 {
			state, _ = r[0].(int64)
		}
		switch state {
		case 1:
			if e, ok := decodeValue(r, maxTTL); ok {
				if h := s.cfg.Hooks.Hit; h != nil {
					h(TierRedis)
				}
				c.store(key, e)
				return e, true, nil
			}
			// Unreadable (another version wrote it, or it is about to
			// expire): fetch without the lock rather than wait.
			return Entry{}, false, nil
		case 2:
			return s.fillAndPublish(ctx, rk, token, key, maxTTL, c, fill)
		case 3:
			t := time.NewTimer(pollInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return Entry{}, true, context.Cause(ctx)
			case <-t.C:
			}
		default:
			s.failed(errors.New("unexpected reply from the acquire script"))
			return Entry{}, false, nil
		}
	}
}

// fillAndPublish fills key while holding the lock, then stores the result
// in Redis and releases the lock, even when the fill failed (others then
// take over at once instead of waiting for the lock to expire).
func (s *shared) fillAndPublish(ctx context.Context, rk redisKeys, token string, key Key, maxTTL time.Duration, c *Cache, fill Fill) (Entry, bool, error) {
	release := s.holdLock(rk, token)
	conv, err := c.callFill(ctx, fill)
	release()
	var (
		e     Entry
		value []byte
		ttl   int64
	)
	if err == nil {
		var b []byte
		var ok bool
		e, b, ok = c.encode(conv, maxTTL)
		if ok {
			c.store(key, e)
			value = encodeValue(e.ETag, b)
			ttl = time.Until(e.Expires).Milliseconds()
		}
	}
	// The flight's context may have ended (that may be why the fill
	// failed); the lock is released all the same.
	pctx := context.WithoutCancel(ctx)
	_, _ = s.call(pctx, func(ctx context.Context) (any, error) {
		return publishScript.Run(ctx, s.rdb, []string{rk.value, rk.lock}, value, ttl, token).Result()
	})
	return e, true, err
}

// holdLock extends the fill lock every third of FillLockTTL until release
// is called, so that a fill may take as long as it needs (a wait for a
// quota slot, a slow SmartAssist) while the lock of a replica that died
// expires within one FillLockTTL. A renewal that fails is tried again at
// the next tick; the lock lapses only if Redis is unreachable for a whole
// FillLockTTL, and then another replica fills too, which costs one
// upstream request, never a wrong answer.
func (s *shared) holdLock(rk redisKeys, token string) (release func()) {
	ttl := s.cfg.FillLockTTL
	done := make(chan struct{})
	var renewing sync.WaitGroup
	renewing.Go(func() {
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-s.stop:
				return
			case <-tick.C:
				_, _ = s.call(context.Background(), func(ctx context.Context) (any, error) {
					return renewScript.Run(ctx, s.rdb, []string{rk.lock}, token, ttl.Milliseconds()).Result()
				})
			}
		}
	})
	return func() {
		close(done)
		renewing.Wait()
	}
}

// put stores a warmed entry in Redis.
func (s *shared) put(ctx context.Context, key Key, b []byte, e Entry) {
	ttl := time.Until(e.Expires)
	if ttl <= 0 || !s.usable() {
		return
	}
	value := encodeValue(e.ETag, b)
	rk := keysFor(key)
	_, _ = s.call(ctx, func(ctx context.Context) (any, error) {
		return nil, s.rdb.Set(ctx, rk.value, value, ttl).Err()
	})
}

// call runs one Redis command bounded by RedisTimeout and keeps the health
// state: an error that is not the caller's own cancellation degrades the
// cache, a success restores it.
func (s *shared) call(ctx context.Context, f func(context.Context) (any, error)) (any, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
	defer cancel()
	v, err := f(cctx)
	if err != nil {
		if ctx.Err() == nil {
			s.failed(err)
		}
		return nil, err
	}
	s.succeeded()
	return v, nil
}

// usable reports whether to try Redis: it has not failed, or its back-off
// has passed (the next call is the probe).
func (s *shared) usable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.down || !time.Now().Before(s.retryAt)
}

func (s *shared) degraded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

func (s *shared) failed(err error) {
	if h := s.cfg.Hooks.RedisError; h != nil {
		h()
	}
	s.mu.Lock()
	was := s.down
	s.down = true
	s.retryAt = time.Now().Add(s.cfg.RedisBackoff)
	startProbe := !was && !s.closed
	if startProbe {
		s.probes.Add(1)
	}
	s.mu.Unlock()
	if was {
		return
	}
	// go-redis errors name the server's address, never its password.
	s.cfg.Logger.Warn("cache: Redis unavailable, caching on this replica alone until it is back",
		"error", err, "retry_after", s.cfg.RedisBackoff)
	if h := s.cfg.Hooks.Degraded; h != nil {
		h(true)
	}
	if startProbe {
		go s.probe()
	}
}

func (s *shared) succeeded() {
	s.mu.Lock()
	was := s.down
	s.down = false
	s.mu.Unlock()
	if !was {
		return
	}
	s.cfg.Logger.Info("cache: Redis is back, sharing the cache across replicas again")
	if h := s.cfg.Hooks.Degraded; h != nil {
		h(false)
	}
}

// probe pings Redis while the cache is degraded, so that it rejoins (and
// Healthy says so) even when every Get is answered locally.
func (s *shared) probe() {
	defer s.probes.Done()
	t := time.NewTicker(s.cfg.RedisBackoff)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if !s.degraded() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RedisTimeout)
		err := s.rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			s.succeeded()
			return
		}
		if h := s.cfg.Hooks.RedisError; h != nil {
			h()
		}
	}
}

func (s *shared) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	s.probes.Wait()
}

// The value's encoding: a version byte, the ETag's length and bytes, the
// deterministic proto encoding. The ETag travels with it so a replica need
// not hash what it reads.
const valueVersion = 1

func encodeValue(etag string, b []byte) []byte {
	v := make([]byte, 0, 2+len(etag)+len(b))
	v = append(v, valueVersion, byte(len(etag)))
	v = append(v, etag...)
	return append(v, b...)
}

// decodeValue reads the reply {1, value, pttl} of acquireScript. The entry
// lives for what remains of the Redis TTL, capped by maxTTL.
func decodeValue(r []any, maxTTL time.Duration) (Entry, bool) {
	if len(r) != 3 {
		return Entry{}, false
	}
	v, _ := r[1].(string)
	pttl, _ := r[2].(int64)
	if len(v) < 2 || v[0] != valueVersion || len(v) < 2+int(v[1]) || pttl <= 0 {
		return Entry{}, false
	}
	etag := v[2 : 2+int(v[1])]
	b := v[2+int(v[1]):]
	conv := new(smartassistv1.Conversation)
	if err := proto.Unmarshal([]byte(b), conv); err != nil {
		return Entry{}, false
	}
	ttl := time.Duration(pttl) * time.Millisecond
	if maxTTL > 0 {
		ttl = min(ttl, maxTTL)
	}
	return Entry{Conversation: conv, ETag: etag, Expires: time.Now().Add(ttl), Size: len(b)}, true
}
