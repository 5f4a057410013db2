package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

// errFillPanicked is what the callers of a fill that panicked get.
var errFillPanicked = errors.New("cache: conversation fill panicked")

// A flight is one load of a key, shared by the callers waiting for it.
//
// golang.org/x/sync/singleflight shares the result but runs the function on
// the first caller's context: when that caller leaves, the others lose the
// fetch, and none can leave early. Here the load runs on its own goroutine
// and context, and counts its waiters: each one leaves when its own context
// ends, and the last one to leave cancels the load.
type flight struct {
	done   chan struct{} // closed when entry and err are set
	entry  Entry
	err    error
	cancel context.CancelFunc

	waiters int // guarded by Cache.mu
}

// join waits for the flight of key, starting one if there is none.
func (c *Cache) join(ctx context.Context, key Key, maxTTL time.Duration, fill Fill) (Entry, error) {
	if ctx.Err() != nil {
		return Entry{}, context.Cause(ctx) // do not start a load nobody waits for
	}
	c.mu.Lock()
	f, ok := c.flights[key]
	if ok {
		f.waiters++
		c.mu.Unlock()
		if h := c.cfg.Hooks.Coalesced; h != nil {
			h()
		}
	} else {
		// The load keeps the first caller's values (trace context) but
		// neither its deadline nor its cancellation: it lasts while anyone
		// waits for it (the waiters' count), so a caller who leaves early,
		// the first one included, costs the others nothing. The fill
		// bounds its own work.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel, waiters: 1}
		c.flights[key] = f
		c.mu.Unlock()
		if h := c.cfg.Hooks.Miss; h != nil {
			h()
		}
		go c.fly(fctx, f, key, maxTTL, fill)
	}

	select {
	case <-f.done:
		return f.entry, f.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	f.waiters--
	last := f.waiters == 0
	if last && c.flights[key] == f {
		// A caller arriving now starts afresh rather than join a load
		// that is being canceled.
		delete(c.flights, key)
	}
	c.mu.Unlock()
	if last {
		f.cancel()
	}
	return Entry{}, context.Cause(ctx)
}

// fly runs the load of f and hands its result to the waiters.
func (c *Cache) fly(ctx context.Context, f *flight, key Key, maxTTL time.Duration, fill Fill) {
	defer f.cancel()
	entry, err := c.load(ctx, key, maxTTL, fill)
	// The entry is stored (by load) before the flight leaves the map, so a
	// new caller finds one or the other.
	c.mu.Lock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	c.mu.Unlock()
	f.entry, f.err = entry, err
	close(f.done)
}

// load finds key in Redis or fills it, and stores the result locally.
func (c *Cache) load(ctx context.Context, key Key, maxTTL time.Duration, fill Fill) (Entry, error) {
	if c.shared != nil {
		if e, ok, err := c.shared.load(ctx, key, maxTTL, c, fill); ok {
			return e, err
		}
	}
	conv, err := c.callFill(ctx, fill)
	if err != nil {
		return Entry{}, err
	}
	e, _, ok := c.encode(conv, maxTTL)
	if ok {
		c.store(key, e)
	}
	return e, nil
}

// callFill calls fill, turning a panic into an error: it runs on the
// flight's goroutine, where a panic would take the process down.
func (c *Cache) callFill(ctx context.Context, fill Fill) (conv *smartassistv1.Conversation, err error) {
	c.hookFill()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("cache: conversation fill panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			conv, err = nil, errFillPanicked
		}
	}()
	conv, err = fill(ctx)
	if err == nil && conv == nil {
		err = errors.New("cache: conversation fill returned neither a conversation nor an error")
	}
	return conv, err
}
