// Package quota is the per-account guard the SmartAssist client calls
// before every HTTP attempt, so that the bridge never spends more of an
// account's quota (by default 60 requests per minute) than SmartAssist
// allows, across all its replicas.
//
// # The guarantee
//
// Never more than N requests for one account in any interval of length
// Per, wherever SmartAssist's own window starts. A token bucket or GCRA
// (github.com/go-redis/redis_rate among them) cannot promise that: it lets a
// full burst of N through and then refills, so N at the end of one upstream
// window plus the refill at the start of the next puts up to 2N inside one
// window of SmartAssist's. This package keeps a sliding log of reserved send
// times instead: a request gets the slot
//
//	max(now, back-off end, last reserved slot, t[k-N] + Window)
//
// where t[0..k-1] are the sorted reserved times of the last window (some in
// the future). Window is Per plus a safety margin (Rate.Margin: 1% of Per or
// 100ms, whichever is larger), because a request reaches SmartAssist a
// little after its slot, by an amount that varies.
//
// A caller whose slot comes before its context's deadline (less a small
// allowance for the request itself) reserves it and waits for it; otherwise
// nothing is reserved and Acquire fails at once with an *ExhaustedError
// whose RetryDelay says exactly when the slot would have been. A caller that
// leaves while waiting spends its slot: conservative, never an overrun. So
// does a caller that wakes up more than the margin after its slot (the
// process was overloaded): it queues again rather than send late, where a
// late send and a punctual one could be less than Per apart.
//
// # Replicas and Redis
//
// With a Redis client the log is one ZSET per account, reserved by one Lua
// script per Acquire on Redis's own clock, so all replicas share one budget
// and one clock. A 429 from SmartAssist (Backoff) is stored beside it, so one
// replica's back-off holds every replica.
//
// Every Redis call is bounded by a short timeout, and Acquire never fails
// because of Redis: when Redis errs or is slow the guard falls back to a
// local budget of floor(N/Replicas) per window (at least 1), so that even if
// every replica falls back at once the account is not overrun in steady
// state. Each replica always keeps its own log of what it reserved, in Redis
// mode too, and the fallback counts it, so a replica that just sent many
// requests through Redis does not add another N/Replicas at once. After a
// failure the guard stays local for a short period, then lets one Acquire
// probe Redis, and rejoins when Redis answers. The guard bounds its wait for
// every Redis call itself, whatever the client's options; the client's own
// read, write and dial timeouts (keep them short, e.g. 1s) end the calls it
// abandons.
//
// What the switch cannot promise: in the one window that straddles it, the
// sends other replicas made through Redis before the failure are unknown to
// this replica, so within that window the account may see up to N (through
// Redis) plus Replicas × floor(N/Replicas) (fallback), i.e. at most 2N. On
// the way back, each replica adds its fallback sends of the last window to
// Redis with its first Redis reservation for that account, so a restarted,
// empty Redis learns them; but until a replica has done so for an account
// (it does so only when it next sends for that account), the other
// replicas do not count its fallback sends, and the same 2N bound applies to
// that window. One window after every replica has switched, the bound is N
// again. Replicas larger than the real number of replicas only makes the
// fallback stricter; smaller makes the straddle worse and the steady
// fallback overrun the account.
package quota

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults for the zero values in Config.
const (
	DefaultRedisTimeout     = 250 * time.Millisecond
	DefaultProbeInterval    = time.Second
	DefaultRequestAllowance = 100 * time.Millisecond
	DefaultKeyPrefix        = "sab:quota:"
)

// Hooks are called for metrics. None takes an account: accounts must never
// be metric labels. Any may be nil. They are called synchronously, so they
// must be quick.
type Hooks struct {
	// Wait is called for every slot reserved, with how long the caller waits
	// for it (0 when a slot was free at once). A caller that must queue again
	// (a back-off arrived while it waited) reserves, and reports, again.
	Wait func(d time.Duration)
	// Refused is called for every Acquire refused with an *ExhaustedError.
	Refused func()
	// Fallback is called with true when the guard stops using Redis and
	// falls back to its local budget, and with false when it rejoins.
	Fallback func(active bool)
	// RedisError is called for every failed or timed-out Redis call.
	RedisError func()
}

// Config configures a Guard.
type Config struct {
	// Rate is the quota per account; the zero Rate disables the guard.
	Rate Rate
	// Redis, when not nil, shares the budget and back-offs across replicas.
	Redis *redis.Client
	// KeyPrefix starts every Redis key (default "sab:quota:").
	KeyPrefix string
	// Replicas is how many bridge replicas share the account (the
	// --replicas flag); while Redis is unreachable each replica allows
	// floor(N/Replicas) per window, at least 1. Values below 1 count as 1.
	Replicas int
	// RedisTimeout bounds every Redis call (default 250ms).
	RedisTimeout time.Duration
	// ProbeInterval is how long the guard stays on its local budget after a
	// Redis failure before it tries Redis again (default 1s).
	ProbeInterval time.Duration
	// RequestAllowance is the time left before the deadline that a slot must
	// leave for the request itself (default 100ms). A slot that needs no
	// wait is granted whatever the deadline.
	RequestAllowance time.Duration
	// Hooks are called for metrics.
	Hooks Hooks
	// Logger gets one line when the guard falls back and one when it
	// rejoins (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock, for tests (default time.Now). Waiting always uses
	// real timers.
	Now func() time.Time
}

// ExhaustedError is returned by Acquire when the account has no free slot
// before the caller's deadline. It names the limit, never the account.
type ExhaustedError struct {
	// Rate is the quota that is exhausted.
	Rate Rate
	// RetryAfter is how long from the refusal until the earliest slot.
	RetryAfter time.Duration
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("the account's SmartAssist quota (%d per %v) has no free slot for %v",
		e.Rate.N, e.Rate.Per, e.RetryAfter.Round(time.Millisecond))
}

// RetryDelay is how long to wait before trying again.
func (e *ExhaustedError) RetryDelay() time.Duration { return e.RetryAfter }

// Guard is the per-account quota guard. It is safe for concurrent use.
type Guard struct {
	rate           Rate
	fallbackBudget int
	allowance      time.Duration
	redisTimeout   time.Duration
	probeInterval  time.Duration
	hooks          Hooks
	logger         *slog.Logger
	now            func() time.Time

	errTimeout error // the cause of a Redis call's timeout

	own   *sendLog
	redis *redisStore // nil: local only
	seq   atomic.Uint64

	mu        sync.Mutex
	fallback  bool      // Redis failed; using the local budget
	probeAt   time.Time // when a fallback may try Redis again
	probing   bool      // one Acquire is trying Redis
	downSince time.Time
	healthy   atomic.Bool
}

// New returns a Guard for cfg, or an error if cfg.Rate is invalid.
func New(cfg Config) (*Guard, error) {
	if err := cfg.Rate.validate(); err != nil {
		return nil, err
	}
	g := &Guard{
		rate:          cfg.Rate,
		allowance:     cmpOr(cfg.RequestAllowance, DefaultRequestAllowance),
		redisTimeout:  cmpOr(cfg.RedisTimeout, DefaultRedisTimeout),
		probeInterval: cmpOr(cfg.ProbeInterval, DefaultProbeInterval),
		hooks:         cfg.Hooks,
		logger:        cfg.Logger,
		now:           cfg.Now,
	}
	if g.logger == nil {
		g.logger = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.fallbackBudget = cfg.Rate.N
	if cfg.Redis != nil {
		g.fallbackBudget = max(cfg.Rate.N/max(cfg.Replicas, 1), 1)
		var id [8]byte
		_, _ = rand.Read(id[:]) // never fails (crypto/rand documents it)
		g.redis = &redisStore{client: cfg.Redis, prefix: cfg.KeyPrefix, replica: hex.EncodeToString(id[:])}
		if g.redis.prefix == "" {
			g.redis.prefix = DefaultKeyPrefix
		}
	}
	g.errTimeout = fmt.Errorf("no answer from Redis within %v", g.redisTimeout)
	g.own = newSendLog(cfg.Rate.Window(), max(cfg.Rate.N, 1))
	g.healthy.Store(true)
	return g, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Acquire returns when a request for account may be sent. It fails with the
// context's cause if ctx ends first, or at once with an *ExhaustedError when
// the account has no slot before ctx's deadline. It never fails because of
// Redis.
func (g *Guard) Acquire(ctx context.Context, account string) error {
	if g.rate.Disabled() {
		return nil
	}
	for {
		delay, err := g.reserve(ctx, account)
		if err != nil {
			return err
		}
		if g.hooks.Wait != nil {
			g.hooks.Wait(delay)
		}
		if delay <= 0 {
			return nil
		}
		slot := g.now().Add(delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
		// A caller woken more than the margin after its slot (an overloaded
		// process) would send outside it, where the window bound no longer
		// holds: its slot is spent and it queues again. So does a caller for
		// whose account a 429 arrived while it waited (on any replica).
		if g.now().Sub(slot) <= g.rate.Margin() && g.backoffLeft(ctx, account) <= 0 {
			return nil
		}
	}
}

// reserve reserves a slot and returns how long to wait for it.
func (g *Guard) reserve(ctx context.Context, account string) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, context.Cause(ctx)
	}
	maxDelay := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		maxDelay = max(dl.Sub(g.now())-g.allowance, 0)
	}
	if g.redis != nil && g.useRedis() {
		delay, ok, err := g.reserveRedis(ctx, account, maxDelay)
		if err == nil {
			if !ok {
				return 0, g.refuse(delay)
			}
			return delay, nil
		}
		if ctx.Err() != nil {
			return 0, context.Cause(ctx)
		}
	}
	budget := g.rate.N
	if g.redis != nil {
		budget = g.fallbackBudget
	}
	now := g.now()
	slot, ok := g.own.reserve(account, now, budget, maxDelay, g.redis != nil)
	if !ok {
		return 0, g.refuse(slot.Sub(now))
	}
	return slot.Sub(now), nil
}

func (g *Guard) refuse(d time.Duration) error {
	if g.hooks.Refused != nil {
		g.hooks.Refused()
	}
	return &ExhaustedError{Rate: g.rate, RetryAfter: d}
}

// reserveRedis reserves through Redis and records the slot in the own log.
func (g *Guard) reserveRedis(ctx context.Context, account string, maxDelay time.Duration) (time.Duration, bool, error) {
	var (
		delay time.Duration
		ok    bool
	)
	member := g.redis.member(g.seq.Add(1))
	now := g.now()
	unshared := g.own.unshared(account, now)
	err := g.bounded(ctx, func(ctx context.Context) (err error) {
		delay, ok, err = g.redis.reserve(ctx, account, g.rate, member, maxDelay, now, unshared)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			g.redisFailed(err)
		} else {
			g.endProbe()
		}
		return 0, false, err
	}
	if g.redisAnswered() {
		g.shareBackoffs()
	}
	if len(unshared) > 0 {
		g.own.shared(account, unshared[len(unshared)-1])
	}
	if ok {
		// Recorded on the local clock after the answer: a little later than
		// Redis's slot, so the entry stays in the fallback's window longer.
		now := g.now()
		g.own.record(account, now, now.Add(delay))
	}
	return delay, ok, nil
}

// bounded runs one Redis call and waits for it at most the Redis timeout
// (less if ctx ends first).
//
// The call itself gets a context that is not cancelled when the caller
// returns but only at its own deadline, twice the Redis timeout: go-redis
// hands a connection being dialled for one caller to whichever caller waits
// next, and cancelling the first caller's context as soon as its call is
// done fails that dial for the others with "context canceled", a false
// Redis failure. Nor does the guard rely on go-redis to honour deadlines
// (it ignores them for reads and writes unless the client sets
// ContextTimeoutEnabled): an abandoned call runs on in its goroutine until
// that deadline or the client's own read, write or dial timeout ends it. An
// abandoned reservation that still lands in Redis spends a slot nobody
// uses: wasteful, never an overrun.
func (g *Guard) bounded(ctx context.Context, call func(context.Context) error) error {
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*g.redisTimeout)
	context.AfterFunc(callCtx, cancel) // releases the timer at the deadline
	done := make(chan error, 1)
	go func() { done <- call(callCtx) }()
	timer := time.NewTimer(g.redisTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return g.errTimeout
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// useRedis reports whether this call should use Redis: always when it is
// healthy; in fallback, only as the one probe after the probe interval.
func (g *Guard) useRedis() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.fallback {
		return true
	}
	if g.probing || g.now().Before(g.probeAt) {
		return false
	}
	g.probing = true
	return true
}

func (g *Guard) endProbe() {
	g.mu.Lock()
	g.probing = false
	g.mu.Unlock()
}

func (g *Guard) redisFailed(err error) {
	if g.hooks.RedisError != nil {
		g.hooks.RedisError()
	}
	g.mu.Lock()
	now := g.now()
	g.probing = false
	g.probeAt = now.Add(g.probeInterval)
	entered := !g.fallback
	if entered {
		g.fallback = true
		g.downSince = now
		g.healthy.Store(false)
	}
	g.mu.Unlock()
	if entered {
		g.logger.Warn("quota: Redis unreachable; using this replica's local share of the quota until it answers",
			"budget", strconv.Itoa(g.fallbackBudget)+"/"+g.rate.Per.String(), "error", err.Error())
		if g.hooks.Fallback != nil {
			g.hooks.Fallback(true)
		}
	}
}

// redisAnswered records that Redis answered, and reports whether that ends
// a fallback.
func (g *Guard) redisAnswered() (rejoined bool) {
	g.mu.Lock()
	g.probing = false
	left := g.fallback
	var down time.Duration
	if left {
		g.fallback = false
		down = g.now().Sub(g.downSince)
		g.healthy.Store(true)
	}
	g.mu.Unlock()
	if left {
		g.logger.Info("quota: Redis answers again; sharing the quota through it", "after", down.Round(time.Millisecond).String())
		if g.hooks.Fallback != nil {
			g.hooks.Fallback(false)
		}
	}
	return left
}

// shareBackoffs gives Redis the back-offs this replica learnt while it could
// not reach it (a 429 answered to a fallback send), so that the other
// replicas wait them out too. A back-off Redis already has that ends later
// is kept.
func (g *Guard) shareBackoffs() {
	for account, left := range g.own.backoffs(g.now()) {
		if !g.shareBackoff(account, left) {
			return
		}
	}
}

// shareBackoff writes one back-off to Redis, reporting whether Redis took
// it (an error counts as a Redis failure).
func (g *Guard) shareBackoff(account string, d time.Duration) bool {
	err := g.bounded(context.Background(), func(ctx context.Context) error {
		return g.redis.backoff(ctx, account, d)
	})
	if err != nil {
		g.redisFailed(err)
	}
	return err == nil
}

// backoffLeft is how long account must still wait for a back-off, from the
// own log and, when Redis is in use, from Redis (an error there counts as a
// Redis failure and is otherwise ignored).
func (g *Guard) backoffLeft(ctx context.Context, account string) time.Duration {
	left := g.own.backoffRemaining(account, g.now())
	if left > 0 || g.redis == nil || !g.Healthy() {
		return left
	}
	err := g.bounded(ctx, func(ctx context.Context) (err error) {
		left, err = g.redis.backoffLeft(ctx, account)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			g.redisFailed(err)
		}
		return 0
	}
	return left
}

// Backoff makes every later Acquire for account wait retryAfter from now (on
// every replica, through Redis), and makes the Acquires already waiting for
// a slot inside that time queue again after it. It blocks for at most the
// Redis timeout.
func (g *Guard) Backoff(account string, retryAfter time.Duration) {
	if g.rate.Disabled() || retryAfter <= 0 {
		return
	}
	now := g.now()
	g.own.backoff(account, now, now.Add(retryAfter))
	if g.redis != nil && g.Healthy() {
		g.shareBackoff(account, retryAfter)
	}
}

// Healthy reports whether the guard works as configured: true without
// Redis, and with Redis while Redis answers; false while it has fallen back
// to its local budget.
func (g *Guard) Healthy() bool { return g.healthy.Load() }

// Status describes the guard's mode in a few words for a health detail,
// e.g. "redis", "local", "disabled", or
// "fallback: local budget 20/1m0s since 2026-12-02T03:04:05Z (Redis unreachable)".
func (g *Guard) Status() string {
	switch {
	case g.rate.Disabled():
		return "disabled"
	case g.redis == nil:
		return "local"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.fallback {
		return "redis"
	}
	return fmt.Sprintf("fallback: local budget %d/%v since %s (Redis unreachable)",
		g.fallbackBudget, g.rate.Per, g.downSince.UTC().Format(time.RFC3339))
}
