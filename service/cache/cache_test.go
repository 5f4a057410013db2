package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service/cache"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newCache(t testing.TB, cfg cache.Config) *cache.Cache {
	t.Helper()
	c, err := cache.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func conversation(id, status string) *smartassistv1.Conversation {
	return &smartassistv1.Conversation{Id: id, Status: status}
}

func key(cred, conv string) cache.Key {
	return cache.Key{Credential: cred, Account: "acct", Stream: "st-1", Conversation: conv}
}

// countingFill returns a fill that counts its calls and returns conv.
func countingFill(n *atomic.Int64, conv *smartassistv1.Conversation) cache.Fill {
	return func(context.Context) (*smartassistv1.Conversation, error) {
		n.Add(1)
		return conv, nil
	}
}

func TestGetCoalescesConcurrentCalls(t *testing.T) {
	t.Parallel()
	const callers = 1000
	var coalesced atomic.Int64
	allWaiting := make(chan struct{})
	c := newCache(t, cache.Config{Hooks: cache.Hooks{Coalesced: func() {
		if coalesced.Add(1) == callers-1 {
			close(allWaiting)
		}
	}}})
	want := conversation("c-1", "CLOSED")
	var fills atomic.Int64
	fill := func(ctx context.Context) (*smartassistv1.Conversation, error) {
		fills.Add(1)
		select {
		case <-allWaiting: // every other caller has joined this fill
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return want, nil
	}

	// A bound, so that a cache that does not coalesce fails instead of
	// hanging: its fills would wait for callers that never join.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			e, err := c.Get(ctx, key("app:x", "c-1"), 0, fill)
			switch {
			case err != nil:
				errs <- err
			case e.Conversation != want:
				errs <- errors.New("a caller got another conversation than the fill's")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err) // the first is enough
	}
	if got := fills.Load(); got != 1 {
		t.Errorf("%d concurrent identical Gets called fill %d times; want 1", callers, got)
	}
}

func TestGetPerCallerCancellation(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}

	t.Run("one leaves, the others get the value", func(t *testing.T) {
		t.Parallel()
		var joined atomic.Int64
		c := newCache(t, cache.Config{Hooks: cache.Hooks{Coalesced: func() { joined.Add(1) }}})
		fillCtx := make(chan context.Context, 1)
		release := make(chan struct{})
		want := conversation("c-1", "OPEN")
		fill := func(ctx context.Context) (*smartassistv1.Conversation, error) {
			fillCtx <- ctx
			<-release
			return want, nil
		}

		deadline := time.Now().Add(time.Minute)
		ctxA, cancelA := context.WithDeadline(context.WithValue(t.Context(), ctxKey{}, "trace-a"), deadline)
		defer cancelA()
		errA := make(chan error, 1)
		go func() {
			_, err := c.Get(ctxA, key("app:x", "c-1"), 0, fill)
			errA <- err
		}()
		fctx := <-fillCtx
		gotB := make(chan cache.Entry, 1)
		go func() {
			e, err := c.Get(t.Context(), key("app:x", "c-1"), 0, fill)
			if err != nil {
				t.Errorf("B: %v", err)
			}
			gotB <- e
		}()
		rpctest.Eventually(t, "B to join A's fill", func() bool { return joined.Load() == 1 })

		cancelA()
		select {
		case err := <-errA:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("A after its cancel: err = %v; want context.Canceled", err)
			}
		case <-time.After(time.Second):
			t.Fatal("A did not return within 1s of its cancel")
		}
		if err := fctx.Err(); err != nil {
			t.Errorf("the fill's context ended when only A left: %v", err)
		}
		if got := fctx.Value(ctxKey{}); got != "trace-a" {
			t.Errorf("fill context value = %v; want the first caller's %q", got, "trace-a")
		}
		// The first caller's deadline is its own: had the fill inherited
		// it, B would lose the fetch when A's time ran out.
		if got, ok := fctx.Deadline(); ok {
			t.Errorf("fill deadline = %v; want none (A's %v is A's alone)", got, deadline)
		}
		close(release)
		if e := <-gotB; e.Conversation != want {
			t.Errorf("B got %v; want the fill's conversation", e.Conversation)
		}
	})

	t.Run("all leave, the fill is canceled", func(t *testing.T) {
		t.Parallel()
		var joined atomic.Int64
		c := newCache(t, cache.Config{Hooks: cache.Hooks{Coalesced: func() { joined.Add(1) }}})
		fillCtx := make(chan context.Context, 2)
		fill := func(ctx context.Context) (*smartassistv1.Conversation, error) {
			fillCtx <- ctx
			<-ctx.Done()
			return nil, ctx.Err()
		}
		const callers = 3
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				if _, err := c.Get(ctx, key("app:x", "c-1"), 0, fill); !errors.Is(err, context.Canceled) {
					t.Errorf("Get after cancel: err = %v; want context.Canceled", err)
				}
			})
		}
		fctx := <-fillCtx
		rpctest.Eventually(t, "every caller to join", func() bool { return joined.Load() == callers-1 })
		cancel()
		wg.Wait()
		select {
		case <-fctx.Done():
		case <-time.After(time.Second):
			t.Fatal("the fill's context was not canceled when its last caller left")
		}

		// The abandoned load is gone: a new caller starts its own.
		var fills atomic.Int64
		if _, err := c.Get(t.Context(), key("app:x", "c-1"), 0, countingFill(&fills, conversation("c-1", "OPEN"))); err != nil {
			t.Fatalf("Get after an abandoned fill: %v", err)
		}
		if fills.Load() != 1 {
			t.Errorf("Get after an abandoned fill called its own fill %d times; want 1", fills.Load())
		}
	})
}

func TestGetSharesErrorsButNeverCachesThem(t *testing.T) {
	t.Parallel()
	var joined atomic.Int64
	c := newCache(t, cache.Config{Hooks: cache.Hooks{Coalesced: func() { joined.Add(1) }}})
	errUpstream := errors.New("upstream says no")
	release := make(chan struct{})
	var fills atomic.Int64
	fill := func(context.Context) (*smartassistv1.Conversation, error) {
		fills.Add(1)
		<-release
		return nil, errUpstream
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := c.Get(t.Context(), key("app:x", "c-1"), 0, fill); !errors.Is(err, errUpstream) {
				t.Errorf("err = %v; want the fill's error", err)
			}
		})
	}
	rpctest.Eventually(t, "the second caller to join", func() bool { return joined.Load() == 1 })
	close(release)
	wg.Wait()
	if fills.Load() != 1 {
		t.Fatalf("two concurrent callers called fill %d times; want 1", fills.Load())
	}
	if _, err := c.Get(t.Context(), key("app:x", "c-1"), 0, countingFill(&fills, conversation("c-1", "OPEN"))); err != nil {
		t.Fatalf("Get after a failed fill: %v", err)
	}
	if fills.Load() != 2 {
		t.Errorf("after a failed fill, the next Get filled %d times in all; want 2 (errors are not cached)", fills.Load())
	}
}

func TestGetFillPanicIsAnError(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Config{})
	_, err := c.Get(t.Context(), key("app:x", "c-1"), 0, func(context.Context) (*smartassistv1.Conversation, error) {
		panic("boom")
	})
	if err == nil {
		t.Fatal("a fill that panicked gave no error")
	}
}

func TestGetIsolatesCredentials(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Config{})
	var fills atomic.Int64
	get := func(cred string) cache.Entry {
		t.Helper()
		e, err := c.Get(t.Context(), key(cred, "c-1"), 0, countingFill(&fills, conversation("c-1 as seen by "+cred, "CLOSED")))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	app := get("app:client")
	forged := get("token:forged")
	if fills.Load() != 2 {
		t.Fatalf("two credentials reading one conversation filled %d times; want 2", fills.Load())
	}
	if app.Conversation == forged.Conversation {
		t.Fatal("two credentials were served the same entry")
	}
	if again := get("app:client"); again.Conversation != app.Conversation || fills.Load() != 2 {
		t.Errorf("the first credential's second Get was not a hit of its own entry (fills = %d)", fills.Load())
	}
}

func TestGetTTLByState(t *testing.T) {
	t.Parallel()
	const (
		closedTTL = time.Minute
		liveTTL   = 100 * time.Millisecond
	)
	tests := []struct {
		name    string
		status  string
		maxTTL  time.Duration
		wantTTL time.Duration
	}{
		{"closed", "CLOSED", 0, closedTTL},
		{"closed in lower case", "closed", 0, closedTTL},
		{"open is live", "OPEN", 0, liveTTL},
		{"no status is live", "", 0, liveTTL},
		{"maxTTL caps closed", "CLOSED", liveTTL, liveTTL},
		{"maxTTL above the state's TTL changes nothing", "OPEN", time.Hour, liveTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t, cache.Config{ClosedTTL: closedTTL, LiveTTL: liveTTL})
			var fills atomic.Int64
			fill := countingFill(&fills, conversation("c-1", tt.status))
			before := time.Now()
			e, err := c.Get(t.Context(), key("app:x", "c-1"), tt.maxTTL, fill)
			if err != nil {
				t.Fatal(err)
			}
			if lo, hi := before.Add(tt.wantTTL), time.Now().Add(tt.wantTTL); e.Expires.Before(lo) || e.Expires.After(hi) {
				t.Errorf("Expires = %v from now; want %v", time.Until(e.Expires).Round(time.Millisecond), tt.wantTTL)
			}
			if _, err := c.Get(t.Context(), key("app:x", "c-1"), tt.maxTTL, fill); err != nil || fills.Load() != 1 {
				t.Fatalf("an immediate second Get filled again (fills = %d, err = %v)", fills.Load(), err)
			}
			time.Sleep(2 * liveTTL)
			if _, err := c.Get(t.Context(), key("app:x", "c-1"), tt.maxTTL, fill); err != nil {
				t.Fatal(err)
			}
			wantFills := int64(1)
			if tt.wantTTL == liveTTL {
				wantFills = 2
			}
			if fills.Load() != wantFills {
				t.Errorf("after %v, fills = %d; want %d", 2*liveTTL, fills.Load(), wantFills)
			}
		})
	}
}

func TestByteBoundEvicts(t *testing.T) {
	t.Parallel()
	const maxBytes = 32 << 10
	evicted := make(chan string, 1000)
	c := newCache(t, cache.Config{MaxBytes: maxBytes, Hooks: cache.Hooks{Eviction: func(r string) { evicted <- r }}})
	big := strings.Repeat("x", 4<<10)
	for i := range 32 { // about 4 times the bound
		c.Put(t.Context(), key("app:x", fmt.Sprint("c-", i)), 0, conversation(big+fmt.Sprint(i), "CLOSED"))
	}
	select {
	case r := <-evicted:
		if r != "size" {
			t.Errorf("eviction reason = %q; want %q", r, "size")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no eviction after inserting four times MaxBytes")
	}
	rpctest.Eventually(t, "the store to shrink under MaxBytes", func() bool {
		_, bytes := c.Size()
		return bytes <= maxBytes
	})
}

func TestETag(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Config{})
	get := func(k cache.Key, conv *smartassistv1.Conversation) string {
		t.Helper()
		var n atomic.Int64
		e, err := c.Get(t.Context(), k, 0, countingFill(&n, conv))
		if err != nil {
			t.Fatal(err)
		}
		return e.ETag
	}
	a := get(key("app:x", "c-1"), &smartassistv1.Conversation{Id: "c-1", Status: "CLOSED", Source: "rtm"})
	b := get(key("app:y", "c-1"), &smartassistv1.Conversation{Id: "c-1", Status: "CLOSED", Source: "rtm"})
	d := get(key("app:z", "c-1"), &smartassistv1.Conversation{Id: "c-1", Status: "CLOSED", Source: "voice"})
	if a != b {
		t.Errorf("equal content, ETags %s and %s; want equal", a, b)
	}
	if a == d {
		t.Errorf("different content, same ETag %s", a)
	}
	if len(a) < 3 || a[0] != '"' || a[len(a)-1] != '"' || strings.Contains(a, "W/") {
		t.Errorf("ETag %s is not a quoted strong tag", a)
	}
}

func TestDisabledFillsEveryGet(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Config{Disabled: true})
	const callers = 10
	var fills atomic.Int64
	var started sync.WaitGroup
	started.Add(callers)
	fill := func(context.Context) (*smartassistv1.Conversation, error) {
		fills.Add(1)
		started.Done()
		started.Wait() // all callers are in fill at once: none was coalesced
		return conversation("c-1", "CLOSED"), nil
	}
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			e, err := c.Get(t.Context(), key("app:x", "c-1"), 0, fill)
			if err != nil || e.ETag == "" {
				t.Errorf("disabled Get: entry %+v, err %v", e, err)
			}
		})
	}
	wg.Wait()
	c.Put(t.Context(), key("app:x", "c-1"), 0, conversation("c-1", "CLOSED"))
	if _, err := c.Get(t.Context(), key("app:x", "c-1"), 0, countingFill(&fills, conversation("c-1", "CLOSED"))); err != nil {
		t.Fatal(err)
	}
	if got := fills.Load(); got != callers+1 {
		t.Errorf("fills = %d; want %d (every Get fills when disabled, Put included)", got, callers+1)
	}
}

func TestPutWarms(t *testing.T) {
	t.Parallel()
	c := newCache(t, cache.Config{})
	want := conversation("c-1", "CLOSED")
	c.Put(t.Context(), key("app:x", "c-1"), 0, want)
	var fills atomic.Int64
	e, err := c.Get(t.Context(), key("app:x", "c-1"), 0, countingFill(&fills, conversation("c-1", "OPEN")))
	if err != nil {
		t.Fatal(err)
	}
	if fills.Load() != 0 || e.Conversation != want {
		t.Errorf("Get after Put filled %d times and returned %v; want the warmed entry", fills.Load(), e.Conversation)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  cache.Config
		want string
	}{
		{"negative MaxBytes", cache.Config{MaxBytes: -1}, "MaxBytes"},
		{"negative ClosedTTL", cache.Config{ClosedTTL: -time.Second}, "ClosedTTL"},
		{"negative LiveTTL", cache.Config{LiveTTL: -time.Second}, "LiveTTL"},
		{"negative RedisTimeout", cache.Config{RedisTimeout: -time.Second}, "RedisTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := cache.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: err = %v; want one naming %s", err, tt.want)
			}
		})
	}
}

func BenchmarkGetLocalHit(b *testing.B) {
	c := newCache(b, cache.Config{})
	k := key("app:x", "c-1")
	c.Put(b.Context(), k, 0, conversation("c-1", "CLOSED"))
	fill := func(context.Context) (*smartassistv1.Conversation, error) {
		return nil, errors.New("a hit must not fill")
	}
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(ctx, k, 0, fill); err != nil {
				b.Fatal(err)
			}
		}
	})
}
