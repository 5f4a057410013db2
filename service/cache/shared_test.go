package cache_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service/cache"
	"github.com/smartassist-bridge/smartassist-bridge/service/redistest"
)

// redisClient is a client configured as the bridge must configure it.
func redisClient(t testing.TB, s *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestNewRequiresContextTimeouts(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	if _, err := cache.New(cache.Config{Redis: rdb}); err == nil || !strings.Contains(err.Error(), "ContextTimeoutEnabled") {
		t.Errorf("New with a client that ignores context deadlines: err = %v; want one naming ContextTimeoutEnabled", err)
	}
}

func TestReplicasFillEachKeyOnce(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	const (
		replicas = 3
		keys     = 5
		calls    = 150
	)
	caches := make([]*cache.Cache, replicas)
	for i := range caches {
		caches[i] = newCache(t, cache.Config{Redis: redisClient(t, s), ClosedTTL: time.Minute})
	}
	var fills [keys]atomic.Int64
	fill := func(k int) cache.Fill {
		return func(context.Context) (*smartassistv1.Conversation, error) {
			fills[k].Add(1)
			time.Sleep(50 * time.Millisecond) // an upstream call: long enough for every caller to arrive
			return conversation(fmt.Sprint("c-", k), "CLOSED"), nil
		}
	}

	etags := make([]sync.Map, keys)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			k := i % keys
			e, err := caches[i%replicas].Get(t.Context(), key("app:x", fmt.Sprint("c-", k)), 0, fill(k))
			if err != nil {
				t.Errorf("Get: %v", err)
				return
			}
			if got, want := e.Conversation.GetId(), fmt.Sprint("c-", k); got != want {
				t.Errorf("Get of %s returned %s", want, got)
			}
			etags[k].Store(e.ETag, true)
		})
	}
	wg.Wait()

	total := int64(0)
	for k := range fills {
		total += fills[k].Load()
		n := 0
		etags[k].Range(func(any, any) bool { n++; return true })
		if n != 1 {
			t.Errorf("key %d was served with %d different ETags across replicas; want 1", k, n)
		}
	}
	if total != keys {
		t.Errorf("%d calls over %d keys on %d replicas filled %d times; want %d", calls, keys, replicas, total, keys)
	}
	for _, c := range caches {
		if !c.Healthy() {
			t.Error("a replica reports Redis unhealthy on a healthy server")
		}
	}

	// Nothing a caller sent appears in Redis key names.
	names, err := s.Client(t).Keys(t.Context(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no value was stored in Redis")
	}
	for _, n := range names {
		for _, secret := range []string{"app:x", "acct", "st-1", "c-"} {
			if strings.Contains(n, secret) {
				t.Errorf("Redis key %q contains %q", n, secret)
			}
		}
	}
}

func TestRedisHitKeepsRemainingTTL(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	a := newCache(t, cache.Config{Redis: redisClient(t, s), ClosedTTL: time.Minute})
	b := newCache(t, cache.Config{Redis: redisClient(t, s), ClosedTTL: time.Minute})
	var hits atomic.Int64
	c := newCache(t, cache.Config{Redis: redisClient(t, s), ClosedTTL: time.Minute,
		Hooks: cache.Hooks{Hit: func(tier cache.Tier) {
			if tier == cache.TierRedis {
				hits.Add(1)
			}
		}}})
	var fills atomic.Int64
	want := &smartassistv1.Conversation{Id: "c-1", Status: "CLOSED", Source: "rtm"}
	ea, err := a.Get(t.Context(), key("app:x", "c-1"), 0, countingFill(&fills, want))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	eb, err := b.Get(t.Context(), key("app:x", "c-1"), 0, countingFill(&fills, want))
	if err != nil {
		t.Fatal(err)
	}
	if fills.Load() != 1 {
		t.Fatalf("a second replica filled again (fills = %d); want a Redis hit", fills.Load())
	}
	// 100ms passed between the two: a hit given a fresh TTL would be 100ms
	// late. The margin is for a busy machine.
	if d := eb.Expires.Sub(ea.Expires); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("the Redis hit expires %v after the original; want the remaining TTL (±50ms)", d)
	}
	if eb.ETag != ea.ETag || eb.Conversation.GetSource() != "rtm" || eb.Size != ea.Size {
		t.Errorf("the Redis hit differs from the original: %+v vs %+v", eb, ea)
	}
	// maxTTL caps what a replica keeps from Redis.
	ec, err := c.Get(t.Context(), key("app:x", "c-1"), 50*time.Millisecond, countingFill(&fills, want))
	if err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 || time.Until(ec.Expires) > 50*time.Millisecond {
		t.Errorf("Redis hits = %d, expires in %v; want 1 hit capped to 50ms", hits.Load(), time.Until(ec.Expires))
	}
}

func TestReplicaTakesOverAFailedFill(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	a := newCache(t, cache.Config{Redis: redisClient(t, s)})
	b := newCache(t, cache.Config{Redis: redisClient(t, s)})
	errUpstream := errors.New("upstream failed")
	aFilling := make(chan struct{})
	failA := make(chan struct{})
	go func() {
		_, err := a.Get(t.Context(), key("app:x", "c-1"), 0, func(context.Context) (*smartassistv1.Conversation, error) {
			close(aFilling)
			<-failA
			return nil, errUpstream
		})
		if !errors.Is(err, errUpstream) {
			t.Errorf("A: err = %v; want its fill's error", err)
		}
	}()
	<-aFilling // A holds the fill lock

	var fills atomic.Int64
	got := make(chan error, 1)
	go func() {
		_, err := b.Get(t.Context(), key("app:x", "c-1"), 0, countingFill(&fills, conversation("c-1", "OPEN")))
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if fills.Load() != 0 {
		t.Fatal("B filled while A held the fill lock")
	}
	close(failA)
	select {
	case err := <-got:
		if err != nil || fills.Load() != 1 {
			t.Errorf("B after A's fill failed: err = %v, fills = %d; want B to take over and fill once", err, fills.Load())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("B did not take over within 2s of A's failed fill")
	}
}

func TestRedisOutageDegradesAndRejoins(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	var redisErrors atomic.Int64
	degraded := make(chan bool, 16)
	c := newCache(t, cache.Config{
		Redis:        redisClient(t, s),
		LiveTTL:      20 * time.Millisecond, // most Gets miss locally and go to Redis
		RedisBackoff: 100 * time.Millisecond,
		Hooks: cache.Hooks{
			RedisError: func() { redisErrors.Add(1) },
			Degraded:   func(active bool) { degraded <- active },
		},
	})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad() // also when a check below fails the test
	var calls, failures atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				k := key("app:x", fmt.Sprint("c-", w, "-", i%3))
				_, err := c.Get(ctx, k, 0, countingFill(new(atomic.Int64), conversation(k.Conversation, "OPEN")))
				cancel()
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					t.Errorf("Get: %v", err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}

	time.Sleep(200 * time.Millisecond)
	s.Stop()
	select {
	case active := <-degraded:
		if !active {
			t.Fatal("the first Degraded signal was a recovery")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no Degraded(true) within 2s of Redis stopping")
	}
	if c.Healthy() {
		t.Error("Healthy() is true while Redis is down")
	}
	time.Sleep(300 * time.Millisecond) // Gets go on, some through the back-off's probes
	s.Restart(t)
	rpctest.Eventually(t, "the cache to rejoin Redis", c.Healthy)
	time.Sleep(100 * time.Millisecond)
	stopLoad()

	// The signals alternate (a pooled connection broken by the restart may
	// cost one more round) and end with a recovery.
	last := true
	for more := true; more; {
		select {
		case active := <-degraded:
			if active == last {
				t.Errorf("Degraded(%v) twice in a row; want alternating signals", active)
			}
			last = active
		default:
			more = false
		}
	}
	if last {
		t.Error("no Degraded(false) after Redis came back")
	}
	if redisErrors.Load() == 0 {
		t.Error("no RedisError hook while Redis was down")
	}
	if n, err := s.Client(t).DBSize(t.Context()).Result(); err != nil || n == 0 {
		t.Errorf("after rejoining, Redis holds %d keys (err %v); want the cache to write to it again", n, err)
	}
	t.Logf("%d Gets across the outage, %d failed, %d Redis errors", calls.Load(), failures.Load(), redisErrors.Load())
}

func BenchmarkGetRedisHit(b *testing.B) {
	s := redistest.Start(b)
	a := newCache(b, cache.Config{Redis: redisClient(b, s)})
	k := key("app:x", "c-1")
	a.Put(b.Context(), k, 0, conversation("c-1", "CLOSED"))
	fill := func(context.Context) (*smartassistv1.Conversation, error) {
		return nil, errors.New("a hit must not fill")
	}
	rdb := redisClient(b, s)
	b.ReportAllocs()
	for b.Loop() {
		// A fresh replica each time: a local miss answered by Redis.
		b.StopTimer()
		c, err := cache.New(cache.Config{Redis: rdb})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := c.Get(b.Context(), k, 0, fill); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

func TestHealthyRecoversWithoutTraffic(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c := newCache(t, cache.Config{Redis: redisClient(t, s), RedisBackoff: 50 * time.Millisecond})
	s.Stop()
	var fills atomic.Int64
	if _, err := c.Get(t.Context(), key("app:x", "c-1"), 0, countingFill(&fills, conversation("c-1", "CLOSED"))); err != nil {
		t.Fatalf("Get with Redis down: %v", err)
	}
	if c.Healthy() || fills.Load() != 1 {
		t.Fatalf("with Redis down: Healthy() = %v, fills = %d; want false and a local fill", c.Healthy(), fills.Load())
	}
	s.Restart(t)
	// No Get reaches Redis now (the entry is a local hit for minutes), so
	// only the cache's own probe can notice that Redis is back.
	rpctest.Eventually(t, "Healthy() after Redis restarted", c.Healthy)
}

// TestSlowRedisIsBounded points the cache at a server that accepts
// connections and never answers: each Get must still finish in about
// RedisTimeout, from the local fill.
func TestSlowRedisIsBounded(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	conns.Go(func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	})
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ContextTimeoutEnabled: true})
	t.Cleanup(func() {
		_ = rdb.Close()
		ln.Close()
		conns.Wait()
	})
	const timeout = 50 * time.Millisecond
	c := newCache(t, cache.Config{Redis: rdb, RedisTimeout: timeout})
	var fills atomic.Int64
	start := time.Now()
	e, err := c.Get(t.Context(), key("app:x", "c-1"), 0, countingFill(&fills, conversation("c-1", "OPEN")))
	if err != nil || e.Conversation.GetId() != "c-1" || fills.Load() != 1 {
		t.Fatalf("Get with a silent Redis: entry %v, err %v, fills %d; want a local fill", e.Conversation, err, fills.Load())
	}
	// Generous for a busy machine, far below go-redis's 3s read timeout.
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("Get with a silent Redis took %v; want about RedisTimeout (%v)", d, timeout)
	}
	if c.Healthy() {
		t.Error("Healthy() is true with a Redis that does not answer")
	}
}

// TestFillLockOutlivesItsTTL checks that a replica whose fill takes many
// times FillLockTTL (a quota wait, a slow SmartAssist) keeps its lock, so
// the others wait for its answer instead of calling SmartAssist too.
func TestFillLockOutlivesItsTTL(t *testing.T) {
	t.Parallel()
	const lockTTL = 150 * time.Millisecond
	s := redistest.Start(t)
	a := newCache(t, cache.Config{Redis: redisClient(t, s), FillLockTTL: lockTTL})
	b := newCache(t, cache.Config{Redis: redisClient(t, s), FillLockTTL: lockTTL})
	aFilling := make(chan struct{})
	aDone := make(chan error, 1)
	go func() {
		_, err := a.Get(t.Context(), key("app:x", "c-1"), 0, func(context.Context) (*smartassistv1.Conversation, error) {
			close(aFilling)
			time.Sleep(8 * lockTTL)
			return conversation("c-1", "OPEN"), nil
		})
		aDone <- err
	}()
	<-aFilling

	var fills atomic.Int64
	e, err := b.Get(t.Context(), key("app:x", "c-1"), 0, countingFill(&fills, conversation("c-1", "CLOSED")))
	if err != nil || fills.Load() != 0 || e.Conversation.GetStatus() != "OPEN" {
		t.Errorf("B while A's fill ran for 8 lock TTLs: err = %v, B's fills = %d, status %q; want A's answer (OPEN) and no fill of B's own",
			err, fills.Load(), e.Conversation.GetStatus())
	}
	if err := <-aDone; err != nil {
		t.Errorf("A: %v", err)
	}
}

// TestDeadFillerLockLapses checks that a replica that took the fill lock
// and then lost Redis (it died, or its network did) holds the others up
// for about one FillLockTTL, not for as long as its fill would have run.
func TestDeadFillerLockLapses(t *testing.T) {
	t.Parallel()
	const lockTTL = 300 * time.Millisecond
	s := redistest.Start(t)
	rdbA := redisClient(t, s)
	a := newCache(t, cache.Config{Redis: rdbA, FillLockTTL: lockTTL})
	b := newCache(t, cache.Config{Redis: redisClient(t, s), FillLockTTL: lockTTL})
	aFilling, releaseA, aDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(aDone)
		_, _ = a.Get(t.Context(), key("app:x", "c-1"), 0, func(context.Context) (*smartassistv1.Conversation, error) {
			close(aFilling)
			<-releaseA
			return conversation("c-1", "OPEN"), nil
		})
	}()
	t.Cleanup(func() { close(releaseA); <-aDone })
	<-aFilling
	_ = rdbA.Close() // A can no longer renew its lock

	var fills atomic.Int64
	start := time.Now()
	_, err := b.Get(t.Context(), key("app:x", "c-1"), 0, countingFill(&fills, conversation("c-1", "CLOSED")))
	took := time.Since(start)
	if err != nil || fills.Load() != 1 {
		t.Fatalf("B after A lost Redis: err = %v, fills = %d; want B to fill once", err, fills.Load())
	}
	// The lock is respected while it lives (at least lockTTL/2 of it was
	// left when B started) and lapses about lockTTL after A's last renewal.
	if took < lockTTL/2 || took > 3*time.Second {
		t.Errorf("B filled after %v; want it to wait for the lock to lapse (about %v), and no more than 3s", took, lockTTL)
	}
}
