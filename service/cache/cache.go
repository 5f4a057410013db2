// Package cache keeps SmartAssist conversations so that the bridge spends
// the account's request quota (60 per minute on SmartAssist's Contact Center
// APIs) as rarely as it can.
//
// A Get is answered, in order, from:
//
//   - the local store, bounded in bytes, each entry living for the TTL of its
//     conversation's state (a CLOSED conversation changes rarely, anything
//     else is live);
//   - a load already under way for the same key on this replica: concurrent
//     callers share one load (coalescing), each with its own deadline;
//   - Redis, when configured: the encoded conversation another replica
//     fetched, or, if none, a fill lock so that exactly one replica calls
//     SmartAssist while the others wait for its result;
//   - the fill function, which calls SmartAssist.
//
// Entries are keyed by the identity of the upstream credential as well as
// the account, stream and conversation, so two credentials never share an
// entry: a forged or expired pass-through token gets its own fill and so
// SmartAssist's own refusal. Errors are shared by the callers of one load but
// never cached.
//
// When Redis fails or is slow (every call is bounded by Config.RedisTimeout)
// the cache carries on alone, with its local store and local coalescing, backs
// off Redis for a moment and rejoins by itself. A Get never fails because of
// Redis.
//
// # Why otter
//
// The local store is github.com/maypok86/otter/v2. It bounds the store by a
// weigher (the encoded size of each conversation) rather than by a count of
// entries, whose sizes vary by orders of magnitude; it gives each entry its
// own expiry (an ExpiryCalculator over a timer wheel), which TTLs by state
// and a token's expiry need; a Set is visible to the next read, and reads of
// a hit do not allocate. dgraph-io/ristretto admits writes probabilistically
// and asynchronously, so a value just fetched may not be there for the next
// caller, which would cost quota; hashicorp/golang-lru bounds entries by
// count and its expirable LRU has one TTL for all entries; a hand-written
// store would have to get byte bounds, per-entry expiry and concurrency right
// on its own, which otter's W-TinyLFU already does with its tests behind it.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxBytes     = 64 << 20
	DefaultClosedTTL    = 10 * time.Minute
	DefaultLiveTTL      = 5 * time.Second
	DefaultRedisTimeout = 150 * time.Millisecond
	DefaultFillLockTTL  = 3 * time.Second
	DefaultRedisBackoff = time.Second

	// minFillLockTTL leaves a renewal (every third of the TTL) time to
	// reach Redis before the lock lapses.
	minFillLockTTL = 30 * time.Millisecond
)

// entryOverhead approximates the bytes an entry costs beyond its encoding:
// the decoded message's headers, the key's strings, otter's node.
const entryOverhead = 512

// Key names one cached conversation as one upstream credential sees it.
type Key struct {
	// Credential is an opaque identity of the upstream credential, e.g.
	// "app:<client-id>" or a hash of a pass-through token. Two different
	// credentials never share an entry. It never appears in Redis key names,
	// logs or metrics.
	Credential string
	Account    string
	Stream     string
	// Conversation is the conversation id.
	Conversation string
}

// Entry is a cached conversation.
type Entry struct {
	// Conversation is shared by every caller and must not be modified.
	Conversation *smartassistv1.Conversation
	// ETag is a strong ETag of the deterministic proto encoding, quoted,
	// e.g. `"q0Zb0yJQ0nE1Xy3mT2y6Lw"`. Empty only when the conversation could
	// not be encoded (then it was not cached either).
	ETag string
	// Expires is when the entry stops being served; the remaining time is
	// what Cache-Control: max-age may say. With the cache disabled, or for
	// an entry that was not cached, it is the time it was fetched.
	Expires time.Time
	// Size is the length of the encoding in bytes; zero when ETag is empty
	// (the conversation was not encoded).
	Size int
}

// Fill fetches a conversation from SmartAssist. It runs on a context that
// carries the values and the deadline of the first caller and ends when the
// last waiting caller leaves.
type Fill func(ctx context.Context) (*smartassistv1.Conversation, error)

// Tier says where a hit was found.
type Tier string

// The tiers of a hit.
const (
	TierLocal Tier = "local"
	TierRedis Tier = "redis"
)

// Hooks receive the cache's events, for metrics. Every field may be nil.
// They carry no ids, accounts or credentials, so none can become a label.
// They must be quick: some run on the path of a Get.
type Hooks struct {
	// Hit: a Get answered from the local store (TierLocal, once per Get),
	// or a load answered from Redis (TierRedis, once per load).
	Hit func(tier Tier)
	// Miss: a Get found no entry and no load under way, and started one.
	Miss func()
	// Coalesced: a Get joined a load already under way on this replica.
	Coalesced func()
	// Fill: the fill function was called (one upstream request).
	Fill func()
	// Eviction: an entry left the local store because of its size bound
	// ("size") or its expiry ("expired").
	Eviction func(reason string)
	// RedisError: a Redis call failed or timed out.
	RedisError func()
	// Degraded: the cache stopped (true) or resumed (false) using Redis.
	Degraded func(active bool)
}

// Config configures a Cache. The zero value is a usable local cache.
type Config struct {
	// MaxBytes bounds the local store: the encoded size of each entry plus
	// a fixed overhead. Zero means DefaultMaxBytes.
	MaxBytes int64
	// ClosedTTL is how long a conversation whose Status is CLOSED (in any
	// case) is kept; LiveTTL, any other. Zero means the default.
	ClosedTTL, LiveTTL time.Duration
	// Disabled turns the cache off: every Get calls its fill, with neither
	// caching nor coalescing of concurrent calls.
	Disabled bool
	// Redis, if not nil, shares entries and fills across replicas. The
	// client must have ContextTimeoutEnabled, so RedisTimeout bounds each
	// call. The Cache does not close it.
	Redis *redis.Client
	// RedisTimeout bounds every Redis call. Zero means DefaultRedisTimeout.
	RedisTimeout time.Duration
	// RedisBackoff is how long Redis is left alone after an error. Zero
	// means DefaultRedisBackoff.
	RedisBackoff time.Duration
	// FillLockTTL bounds how long other replicas wait for a replica that
	// took the fill lock and then vanished; the replica filling extends
	// its lock every third of it for as long as its fill runs. Zero means
	// DefaultFillLockTTL.
	FillLockTTL time.Duration
	// Hooks receive events for metrics.
	Hooks Hooks
	// Logger receives one line when Redis is lost and one when it is back.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Cache is a conversation cache with coalescing, local and optionally shared
// through Redis. It is safe for concurrent use.
type Cache struct {
	cfg   Config
	log   *slog.Logger
	local *otter.Cache[Key, Entry]

	mu      sync.Mutex
	flights map[Key]*flight

	shared *shared // nil without Redis
}

// New returns a Cache for cfg, or an error naming the invalid field.
func New(cfg Config) (*Cache, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	c := &Cache{cfg: cfg, log: cfg.Logger, flights: make(map[Key]*flight)}
	if cfg.Disabled {
		return c, nil
	}
	onEviction := cfg.Hooks.Eviction
	local, err := otter.New(&otter.Options[Key, Entry]{
		MaximumWeight: uint64(cfg.MaxBytes),
		Weigher:       weigh,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[Key, Entry]) time.Duration {
			return time.Until(e.Value.Expires)
		}),
		OnDeletion: func(e otter.DeletionEvent[Key, Entry]) {
			if onEviction == nil {
				return
			}
			switch e.Cause {
			case otter.CauseOverflow:
				onEviction("size")
			case otter.CauseExpiration:
				onEviction("expired")
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cache: local store: %w", err)
	}
	c.local = local
	if cfg.Redis != nil {
		c.shared = newShared(&c.cfg)
	}
	return c, nil
}

func (cfg *Config) validate() error {
	switch {
	case cfg.MaxBytes < 0:
		return errors.New("cache: MaxBytes must not be negative")
	case cfg.ClosedTTL < 0:
		return errors.New("cache: ClosedTTL must not be negative")
	case cfg.LiveTTL < 0:
		return errors.New("cache: LiveTTL must not be negative")
	case cfg.RedisTimeout < 0:
		return errors.New("cache: RedisTimeout must not be negative")
	case cfg.RedisBackoff < 0:
		return errors.New("cache: RedisBackoff must not be negative")
	case cfg.FillLockTTL < 0, cfg.FillLockTTL > 0 && cfg.FillLockTTL < minFillLockTTL:
		return errors.New("cache: FillLockTTL must be 0 (the default) or at least 30ms")
	case cfg.Redis != nil && !cfg.Redis.Options().ContextTimeoutEnabled:
		// Without it go-redis ignores context deadlines on reads and writes
		// (its ReadTimeout, 3s by default, applies), so a slow Redis would
		// hold every miss for seconds.
		return errors.New("cache: the Redis client needs ContextTimeoutEnabled so RedisTimeout can bound its calls")
	}
	return nil
}

func (cfg *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	def(&cfg.ClosedTTL, DefaultClosedTTL)
	def(&cfg.LiveTTL, DefaultLiveTTL)
	def(&cfg.RedisTimeout, DefaultRedisTimeout)
	def(&cfg.RedisBackoff, DefaultRedisBackoff)
	def(&cfg.FillLockTTL, DefaultFillLockTTL)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
}

func weigh(k Key, e Entry) uint32 {
	w := int64(e.Size) + entryOverhead +
		int64(len(k.Credential)+len(k.Account)+len(k.Stream)+len(k.Conversation))
	return uint32(min(w, math.MaxUint32))
}

// Get returns the entry for key: cached, or fetched by calling fill once for
// all concurrent callers of key. maxTTL > 0 caps how long the result is
// kept, e.g. to a pass-through token's expiry. Callers that share a load
// share its first caller's maxTTL; the credential is part of the key, so
// they share its expiry too.
//
// A caller whose ctx ends returns at once with context.Cause(ctx); the fill
// goes on for the callers still waiting, and is canceled when the last of
// them leaves. The first caller's deadline bounds the fill.
func (c *Cache) Get(ctx context.Context, key Key, maxTTL time.Duration, fill Fill) (Entry, error) {
	if c.cfg.Disabled {
		c.hookFill()
		conv, err := fill(ctx)
		if err != nil {
			return Entry{}, err
		}
		return c.uncached(conv), nil
	}
	if e, ok := c.local.GetIfPresent(key); ok {
		if h := c.cfg.Hooks.Hit; h != nil {
			h(TierLocal)
		}
		return e, nil
	}
	return c.join(ctx, key, maxTTL, fill)
}

// Put stores conv for key, as Get would after a fill: to warm the cache with
// the conversations of a list result. It does nothing when the cache is
// disabled. A Redis failure only degrades the cache.
func (c *Cache) Put(ctx context.Context, key Key, maxTTL time.Duration, conv *smartassistv1.Conversation) {
	if c.cfg.Disabled || conv == nil {
		return
	}
	e, b, ok := c.encode(conv, maxTTL)
	if !ok {
		return
	}
	c.store(key, e)
	if c.shared != nil {
		c.shared.put(ctx, key, b, e)
	}
}

// Healthy reports whether the cache is using Redis as configured: false
// while it runs alone because Redis failed. Without Redis it is true.
func (c *Cache) Healthy() bool {
	return c.shared == nil || !c.shared.degraded()
}

// Size returns the approximate number of entries in the local store and
// their weight in bytes, for gauges.
func (c *Cache) Size() (entries int, bytes uint64) {
	if c.local == nil {
		return 0, 0
	}
	return c.local.EstimatedSize(), c.local.WeightedSize()
}

// Close stops the cache's background goroutines. The Cache must not be used
// afterwards. It does not close the Redis client.
func (c *Cache) Close() {
	if c.shared != nil {
		c.shared.close()
	}
	if c.local != nil {
		c.local.StopAllGoroutines()
	}
}

// ttl is how long conv may be kept.
func (c *Cache) ttl(conv *smartassistv1.Conversation, maxTTL time.Duration) time.Duration {
	d := c.cfg.LiveTTL
	if strings.EqualFold(conv.GetStatus(), "CLOSED") {
		d = c.cfg.ClosedTTL
	}
	if maxTTL > 0 {
		d = min(d, maxTTL)
	}
	return d
}

// encode builds the entry for conv and returns its encoding. ok is false
// when conv cannot be encoded (invalid UTF-8 in a string field, which the
// mapping should never produce): the entry is then served but not cached.
func (c *Cache) encode(conv *smartassistv1.Conversation, maxTTL time.Duration) (Entry, []byte, bool) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(conv)
	if err != nil {
		c.log.Warn("cache: conversation not cached: cannot encode it", "error", err)
		return Entry{Conversation: conv, Expires: time.Now()}, nil, false
	}
	return Entry{
		Conversation: conv,
		ETag:         etag(b),
		Expires:      time.Now().Add(c.ttl(conv, maxTTL)),
		Size:         len(b),
	}, b, true
}

// uncached is the entry for a conversation served without caching.
func (c *Cache) uncached(conv *smartassistv1.Conversation) Entry {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(conv)
	if err != nil {
		return Entry{Conversation: conv, Expires: time.Now()}
	}
	return Entry{Conversation: conv, ETag: etag(b), Expires: time.Now(), Size: len(b)}
}

// store keeps e locally unless it has already expired.
func (c *Cache) store(key Key, e Entry) {
	if time.Until(e.Expires) > 0 {
		c.local.Set(key, e)
	}
}

func (c *Cache) hookFill() {
	if h := c.cfg.Hooks.Fill; h != nil {
		h()
	}
}

// etag is a strong entity tag: 128 bits of SHA-256, enough that equal tags
// mean equal content for any practical purpose.
func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}
