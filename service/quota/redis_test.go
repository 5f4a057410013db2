package quota_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartassist-bridge/smartassist-bridge/service/quota"
	"github.com/smartassist-bridge/smartassist-bridge/service/redistest"
)

// TestRedisReplicasShareBudget: three guards (replicas) on one redis-server
// together never let more than N through in any window.
func TestRedisReplicasShareBudget(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	rate := quota.Rate{N: 10, Per: 300 * time.Millisecond}
	var c counters
	var guards []*quota.Guard
	for range 3 {
		guards = append(guards, newGuard(t, quota.Config{Rate: rate, Redis: s.Client(t), Replicas: 3, Hooks: c.hooks(), RedisTimeout: 5 * time.Second}))
	}
	times := sendAll(t, guards, "acct", 35, 5*time.Second)
	if len(times) != 35 {
		t.Fatalf("%d of 35 Acquires succeeded", len(times))
	}
	checkAtMost(t, times, rate.N, rate.Per)
	if n := c.redisErrors.Load(); n != 0 {
		t.Errorf("%d Redis errors", n)
	}
	// The local shares (3 per replica) would let 9 through in the first
	// window; 10 prove the budget was the shared one.
	if d := times[9].Sub(times[0]); d >= rate.Per {
		t.Errorf("the first 10 sends took %v; want them inside one window with a shared budget of %d", d, rate.N)
	}
	for _, g := range guards {
		if !g.Healthy() || g.Status() != "redis" {
			t.Errorf("Healthy, Status = %v, %q; want true, redis", g.Healthy(), g.Status())
		}
	}
}

// TestRedisRefusal: the RetryDelay of a refusal is the slot on Redis's clock.
func TestRedisRefusal(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	rate := quota.Rate{N: 3, Per: time.Second} // window 1.1s
	var c counters
	g := newGuard(t, quota.Config{Rate: rate, Redis: s.Client(t), Hooks: c.hooks(), RedisTimeout: time.Second})
	// The first slot is taken on Redis's clock somewhere between these two.
	before := time.Now()
	if err := g.Acquire(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	for range 2 {
		if err := g.Acquire(context.Background(), "acct"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := g.Acquire(ctx, "acct")
	end := time.Now()
	var ex *quota.ExhaustedError
	if !errors.As(err, &ex) {
		t.Fatalf("Acquire = %v; want *ExhaustedError", err)
	}
	// RetryDelay is first slot + window - Redis's now during the call.
	lo, hi := before.Add(rate.Window()).Sub(end), after.Add(rate.Window()).Sub(start)
	const clockSkew = 5 * time.Millisecond // Redis's clock against ours, on one host
	if got := ex.RetryDelay(); got < lo-clockSkew || got > hi+clockSkew {
		t.Fatalf("RetryDelay = %v; want between %v and %v (the first slot plus the window)", got, lo, hi)
	}
	if c.refused.Load() != 1 {
		t.Errorf("Refused hook called %d times; want 1", c.refused.Load())
	}
}

// TestRedisBackoffShared: a 429 seen by one replica holds the account on
// another, and only that account.
func TestRedisBackoffShared(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	rate := quota.Rate{N: 100, Per: time.Second}
	a := newGuard(t, quota.Config{Rate: rate, Redis: s.Client(t), Replicas: 2, RedisTimeout: time.Second})
	b := newGuard(t, quota.Config{Rate: rate, Redis: s.Client(t), Replicas: 2, RedisTimeout: time.Second})
	// Long enough that "at once" and "about the back-off" hold however
	// slowly the test runs.
	const backoff = 2 * time.Second
	start := time.Now()
	a.Backoff("acct", backoff)

	short, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	var ex *quota.ExhaustedError
	if err := b.Acquire(short, "acct"); !errors.As(err, &ex) || !within(ex.RetryDelay(), backoff, 500*time.Millisecond) {
		t.Errorf("other replica, short deadline: Acquire = %v; want a refusal with RetryDelay about %v", err, backoff)
	}
	if err := b.Acquire(context.Background(), "other"); err != nil || time.Since(start) > time.Second {
		t.Errorf("other account: Acquire = %v after %v; want at once", err, time.Since(start))
	}
	if err := b.Acquire(context.Background(), "acct"); err != nil || time.Since(start) < backoff {
		t.Errorf("other replica: Acquire = %v after %v; want nil after %v", err, time.Since(start), backoff)
	}
}

// TestRedisBackoffWhileWaiting: an Acquire waiting for its slot on one
// replica queues again when another replica reports a 429.
func TestRedisBackoffWhileWaiting(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	rate := quota.Rate{N: 1, Per: 200 * time.Millisecond} // window 300ms
	a := newGuard(t, quota.Config{Rate: rate, Redis: s.Client(t), RedisTimeout: time.Second})
	b := newGuard(t, quota.Config{Rate: rate, Redis: s.Client(t), RedisTimeout: time.Second})
	// Warm both replicas (connection, script cache), so that b's back-off
	// reaches Redis well before a wakes up.
	for _, g := range []*quota.Guard{a, b} {
		if err := g.Acquire(context.Background(), "warm-up"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Acquire(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.AfterFunc(100*time.Millisecond, func() { b.Backoff("acct", 600*time.Millisecond) })
	if err := a.Acquire(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Errorf("Acquire returned after %v; want after the other replica's back-off ending at 700ms", took)
	}
}

// TestRedisKeysHideAccounts: account ids never appear in Redis keys.
func TestRedisKeysHideAccounts(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c := s.Client(t)
	g := newGuard(t, quota.Config{Rate: quota.Rate{N: 5, Per: time.Second}, Redis: c, KeyPrefix: "test:q:", RedisTimeout: time.Second})
	const account = "acct {with} :odd* chars"
	if err := g.Acquire(context.Background(), account); err != nil {
		t.Fatal(err)
	}
	g.Backoff(account, time.Second)
	keys, err := c.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys %q; want a log and a back-off key", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "test:q:{") || strings.Contains(k, "acct") {
			t.Errorf("key %q: want the prefix and a hash, never the account id", k)
		}
		if ttl := c.PTTL(context.Background(), k).Val(); ttl <= 0 || ttl > 2*time.Second {
			t.Errorf("key %q expires in %v; want within a window", k, ttl)
		}
	}
}

// TestRedisFailover: with redis-server killed mid-run, Acquire keeps
// working on the local share floor(N/replicas), counting what this replica
// sent through Redis just before; after a restart the guard rejoins.
func TestRedisFailover(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	rate := quota.Rate{N: 12, Per: 300 * time.Millisecond} // window 400ms
	const replicas, share = 3, 4
	var (
		c   counters
		log lockedBuffer
	)
	g := newGuard(t, quota.Config{
		Rate: rate, Redis: s.Client(t), Replicas: replicas, Hooks: c.hooks(),
		RedisTimeout: 100 * time.Millisecond, ProbeInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	})
	// A full share through Redis: the fallback must count these.
	before := sendAll(t, []*quota.Guard{g}, "acct", share, time.Second)
	if !g.Healthy() {
		t.Fatal("not healthy before the outage")
	}

	s.Stop()
	during := sendAll(t, []*quota.Guard{g}, "acct", 3*share, 5*time.Second)
	if len(during) != 3*share {
		t.Fatalf("during the outage %d of %d Acquires succeeded", len(during), 3*share)
	}
	checkAtMost(t, append(before, during...), share, rate.Per)
	if g.Healthy() || !strings.HasPrefix(g.Status(), "fallback") {
		t.Errorf("during the outage Healthy, Status = %v, %q; want false, fallback…", g.Healthy(), g.Status())
	}
	if c.fallbackOn.Load() != 1 || c.redisErrors.Load() == 0 {
		t.Errorf("Fallback(true) hook %d times, RedisError %d times; want 1 and at least 1", c.fallbackOn.Load(), c.redisErrors.Load())
	}

	s.Restart(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for !g.Healthy() {
		if err := g.Acquire(ctx, "probe"); err != nil {
			t.Fatalf("Acquire while rejoining: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c.fallbackOff.Load() != 1 || g.Status() != "redis" {
		t.Errorf("Fallback(false) hook %d times, Status %q; want 1, redis", c.fallbackOff.Load(), g.Status())
	}
	// The restarted server is empty: a log key now proves sends go through it.
	if err := g.Acquire(ctx, "acct"); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Client(t).Keys(ctx, "sab:quota:*:log").Val()); n != 2 {
		t.Errorf("%d log keys in the restarted Redis; want 2 (probe and acct)", n)
	}
	logged := log.String()
	if strings.Count(logged, "Redis unreachable") != 1 || strings.Count(logged, "Redis answers again") != 1 {
		t.Errorf("log:\n%s\nwant one line on falling back and one on rejoining", logged)
	}
	if strings.Contains(logged, "acct") {
		t.Errorf("log names the account:\n%s", logged)
	}
}

// outage is two replicas (guards) on one redis-server that is then stopped:
// A works alone until rejoin restarts Redis and waits for A to use it again.
type outage struct {
	a, b *quota.Guard
	s    *redistest.Server
	cfg  quota.Config
}

func newOutage(t *testing.T, rate quota.Rate) *outage {
	t.Helper()
	o := &outage{s: redistest.Start(t)}
	o.cfg = quota.Config{Rate: rate, Replicas: 2, RedisTimeout: 200 * time.Millisecond, ProbeInterval: 100 * time.Millisecond}
	o.cfg.Redis = o.s.Client(t)
	o.a = newGuard(t, o.cfg)
	o.cfg.Redis = o.s.Client(t)
	o.b = newGuard(t, o.cfg)
	o.s.Stop()
	return o
}

func (o *outage) rejoin(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// A's Redis call that timed out may still be retrying its dial; let it
	// reach its deadline so that it cannot reserve in the restarted server.
	time.Sleep(2 * o.cfg.RedisTimeout)
	o.s.Restart(t)
	for !o.a.Healthy() {
		if err := o.a.Acquire(ctx, "probe"); err != nil {
			t.Fatalf("Acquire while rejoining: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisRejoinSharesFallbackSends: after Redis restarts empty, a replica
// adds the sends it made on its local share to Redis, so another replica
// counts them within the same window.
func TestRedisRejoinSharesFallbackSends(t *testing.T) {
	t.Parallel()
	o := newOutage(t, quota.Rate{N: 4, Per: 2 * time.Second}) // share 2 with 2 replicas
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for range 2 {
		if err := o.a.Acquire(ctx, "acct"); err != nil {
			t.Fatal(err)
		}
	}
	o.rejoin(t)
	if err := o.a.Acquire(ctx, "acct"); err != nil { // adds the two fallback sends
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	if err := o.b.Acquire(short, "acct"); err != nil {
		t.Fatalf("the fourth send of the window: %v", err)
	}
	var ex *quota.ExhaustedError
	if err := o.b.Acquire(short, "acct"); !errors.As(err, &ex) {
		t.Fatalf("the fifth send of the window: Acquire = %v; want *ExhaustedError (Redis must count the fallback sends)", err)
	}
}

// TestRedisRejoinSharesBackoffs: a 429 that reached a replica while Redis
// was down (so only it knows the back-off) reaches the other replicas
// through Redis once it rejoins.
func TestRedisRejoinSharesBackoffs(t *testing.T) {
	t.Parallel()
	o := newOutage(t, quota.Rate{N: 100, Per: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.a.Acquire(ctx, "acct"); err != nil { // a fallback send...
		t.Fatal(err)
	}
	// ...answered 429. Long enough to outlast the rejoin however slowly
	// the test runs.
	const backoff = 4 * time.Second
	start := time.Now()
	o.a.Backoff("acct", backoff)
	o.rejoin(t)

	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	var ex *quota.ExhaustedError
	err := o.b.Acquire(short, "acct")
	if left := backoff - time.Since(start); !errors.As(err, &ex) || !within(ex.RetryDelay(), left, time.Second) {
		t.Errorf("the other replica after A rejoined: Acquire = %v; want a refusal with RetryDelay about %v (A's back-off)", err, left)
	}
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRedisSlowFallsBack: a Redis that accepts connections but never answers
// costs a caller at most about the Redis timeout, never an error.
func TestRedisSlowFallsBack(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	// The client's own timeouts are longer than the guard's: the guard must
	// not depend on them (they only end the abandoned calls).
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	var hooks counters
	g := newGuard(t, quota.Config{
		Rate: quota.Rate{N: 10, Per: time.Second}, Redis: c, Replicas: 2,
		RedisTimeout: 50 * time.Millisecond, Hooks: hooks.hooks(), Logger: nil,
	})
	for i := range 5 {
		start := time.Now()
		if err := g.Acquire(context.Background(), "acct"); err != nil {
			t.Fatalf("Acquire %d: %v", i, err)
		}
		// Bounded by the guard's 50ms RedisTimeout, not the client's 5s.
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Acquire %d took %v with a silent Redis; want about the 50ms Redis timeout at most", i, took)
		}
	}
	if g.Healthy() || hooks.fallbackOn.Load() != 1 {
		t.Errorf("Healthy = %v, Fallback(true) %d times; want false, 1", g.Healthy(), hooks.fallbackOn.Load())
	}
	// The sixth send exceeds the share of 5: it waits, it does not fail.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var ex *quota.ExhaustedError
	if err := g.Acquire(ctx, "acct"); !errors.As(err, &ex) {
		t.Errorf("sixth Acquire with a short deadline = %v; want *ExhaustedError (share of 5 spent)", err)
	}
}

// silentServer accepts TCP connections on loopback and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}
