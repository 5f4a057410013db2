package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/cache"
	"github.com/smartassist-bridge/smartassist-bridge/service/quota"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/telemetry"
	"github.com/smartassist-bridge/smartassist-bridge/service/watch"
)

// sharedStores are what replicas share through Redis when --redis-url is
// set, and keep per process otherwise: the conversation cache (with the
// coalescing of fills), the per-account quota budget, and the watch
// pollers. Each degrades to its local form when Redis fails and rejoins
// when it is back; none fails a call because Redis is gone.
type sharedStores struct {
	redis   *redis.Client
	budget  countedBudget
	cache   *cache.Cache
	watcher *watch.Hub
}

// Redis client bounds: a slow or dead Redis must cost a call
// milliseconds, never seconds. Each component also bounds its own wait.
//
// redisCallTimeout bounds each component's Redis call. A Redis that is
// killed refuses at once; only a black-holed one costs this much, once per
// back-off period. Shorter bounds (150-250ms) made replicas on a loaded
// 2-core host fall back during a burst and fetch twice (e2e/quota/run).
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = time.Second
	redisCallTimeout = 500 * time.Millisecond
)

func newSharedStores(ctx context.Context, cfg *Config, m *telemetry.Stewardship, log *slog.Logger) (*sharedStores, error) {
	s := &sharedStores{}
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("--redis-url: not a redis:// or rediss:// URL")
		}
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = redisDialTimeout, redisIOTimeout, redisIOTimeout
		opts.ContextTimeoutEnabled = true
		opts.MaxRetries = -1 // the components fall back instead of retrying
		// A burst of misses asks Redis from many goroutines at once; the
		// components bound each call to a few hundred milliseconds, which
		// must not be spent waiting for a pooled connection or a dial.
		opts.PoolSize = max(opts.PoolSize, 64)
		opts.MinIdleConns = max(opts.MinIdleConns, 8)
		// go-redis logs dial failures on its own; route them to our log at
		// debug level (the components log one line per outage themselves).
		redis.SetLogger(redisLogger{log})
		s.redis = redis.NewClient(opts)
		// A first PING only informs: Redis may come up after the bridge,
		// and every component works without it meanwhile.
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := s.redis.Ping(pingCtx).Err(); err != nil {
			log.Warn("redis: not reachable at start; working per process until it is",
				slog.String("redis_addr", opts.Addr), slog.String("error", err.Error()))
		}
		cancel()
	}

	redisError := func(component string) func() {
		return func() { m.RedisErrors.WithLabelValues(component).Inc() }
	}
	degraded := func(component string) func(bool) {
		return func(active bool) { m.SetDegraded(component, active) }
	}

	guard, err := quota.New(quota.Config{
		Rate:         cfg.UpstreamRate,
		Redis:        s.redis,
		Replicas:     cfg.Replicas,
		RedisTimeout: redisCallTimeout,
		Logger:       log,
		Hooks: quota.Hooks{
			Wait:       m.ObserveQuotaWait,
			Refused:    m.QuotaRefusals.Inc,
			Fallback:   degraded("quota"),
			RedisError: redisError("quota"),
		},
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("--upstream-rate: %w", err)
	}
	s.budget = countedBudget{Guard: guard, backoffs: m.QuotaBackoffs}

	c, err := cache.New(cache.Config{
		MaxBytes:     cfg.CacheMaxBytes,
		ClosedTTL:    cfg.CacheClosedTTL,
		LiveTTL:      cfg.CacheLiveTTL,
		Disabled:     !cfg.Cache,
		Redis:        s.redis,
		RedisTimeout: redisCallTimeout,
		Logger:       log,
		Hooks: cache.Hooks{
			Hit: func(tier cache.Tier) {
				result := "hit"
				if tier == cache.TierRedis {
					result = "shared_hit"
				}
				m.CacheLookups.WithLabelValues(result).Inc()
			},
			Miss:       func() { m.CacheLookups.WithLabelValues("miss").Inc() },
			Coalesced:  m.CoalescedWaiters.Inc,
			Eviction:   func(string) { m.CacheEvictions.Inc() },
			RedisError: redisError("cache"),
			Degraded:   degraded("cache"),
		},
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	s.cache = c

	s.watcher = watch.New(watch.Config{
		MinInterval: cfg.WatchInterval,
		Interval:    watchInterval(cfg),
		Retryable:   service.RetryableWatchError,
		Redis:       s.redis,
		Logger:      log,
		Hooks: watch.Hooks{
			Pollers:     func(n int) { m.WatchPollers.Set(float64(n)) },
			RedisFailed: func(error) { m.RedisErrors.WithLabelValues("watch").Inc() },
		},
	})
	go s.reportCacheSize(ctx, m)
	return s, nil
}

// watchInterval spreads pollers over the account's budget: together they
// may use at most half of it (the rest is for unary calls), and never
// poll one conversation more often than --watch-interval.
func watchInterval(cfg *Config) func(active int) time.Duration {
	if cfg.UpstreamRate.Disabled() {
		return nil
	}
	perPoll := cfg.UpstreamRate.Window() / time.Duration(cfg.UpstreamRate.N)
	return func(active int) time.Duration {
		return max(cfg.WatchInterval, 2*perPoll*time.Duration(max(active, 1)))
	}
}

// reportCacheSize keeps the cache_bytes gauge current.
func (s *sharedStores) reportCacheSize(ctx context.Context, m *telemetry.Stewardship) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		_, bytes := s.cache.Size()
		m.CacheBytes.Set(float64(bytes))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// health is the admin endpoint's detail: how each shared store works now.
func (s *sharedStores) health() map[string]string {
	d := map[string]string{"quota": s.budget.Status()}
	switch {
	case s.redis == nil:
		d["cache"] = "local"
	case s.cache.Healthy():
		d["cache"] = "redis"
	default:
		d["cache"] = "degraded: local only (Redis unreachable)"
	}
	return d
}

// Close releases the stores and the Redis client.
func (s *sharedStores) Close() {
	if s.watcher != nil {
		s.watcher.Close()
	}
	if s.cache != nil {
		s.cache.Close()
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
}

var (
	_ smartassist.Budget = countedBudget{}
	_ service.Cache      = (*cache.Cache)(nil)
	_ service.Watcher    = (*watch.Hub)(nil)
)

// redisLogger routes go-redis's internal messages to our log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// countedBudget counts the account-wide back-offs SmartAssist's 429s cause.
type countedBudget struct {
	*quota.Guard
	backoffs interface{ Inc() }
}

func (b countedBudget) Backoff(account string, retryAfter time.Duration) {
	b.backoffs.Inc()
	b.Guard.Backoff(account, retryAfter)
}
