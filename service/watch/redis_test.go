package watch_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service/redistest"
	"github.com/smartassist-bridge/smartassist-bridge/service/watch"
)

// replica is one bridge replica: a Hub with its own Redis client, and
// the fetches it made.
type replica struct {
	hub     *watch.Hub
	fetches atomic.Int64
	cancel  context.CancelFunc // ends its subscribers
	chans   []<-chan watch.Update
}

// startReplicas starts n Hubs sharing s, each with subs subscribers of
// one key of src, and waits until every subscriber has the first state.
func startReplicas(t *testing.T, s *redistest.Server, src *source, n, subs int, interval time.Duration) []*replica {
	t.Helper()
	replicas := make([]*replica, n)
	for i := range replicas {
		// No retries: a test outage should be seen at once.
		rdb := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = rdb.Close() })
		r := &replica{hub: watch.New(watch.Config{MinInterval: interval, Redis: rdb})}
		t.Cleanup(r.hub.Close) // before the client closes
		ctx, cancel := context.WithCancel(t.Context())
		r.cancel = cancel
		fetch := func(ctx context.Context) (*smartassistv1.Conversation, error) {
			if ctx.Err() == nil {
				r.fetches.Add(1)
			}
			return src.fetch(ctx)
		}
		for range subs {
			r.chans = append(r.chans, r.hub.Subscribe(ctx, "stream/conversation/identity", fetch))
		}
		replicas[i] = r
	}
	for _, r := range replicas {
		for _, ch := range r.chans {
			checkState(t, next(t, ch), src.current())
		}
	}
	return replicas
}

// polling returns which replicas fetched during window.
func polling(replicas []*replica, window time.Duration) []int {
	before := make([]int64, len(replicas))
	for i, r := range replicas {
		before[i] = r.fetches.Load()
	}
	time.Sleep(window)
	var out []int
	for i, r := range replicas {
		if r.fetches.Load() > before[i] {
			out = append(out, i)
		}
	}
	return out
}

// pollingFor returns which replicas fetched while n fetches were made in
// all. Counting fetches rather than time keeps it meaningful on a loaded
// machine: with two pollers, both would show up among n >= 4 fetches.
func pollingFor(t *testing.T, replicas []*replica, n int64) []int {
	t.Helper()
	before := make([]int64, len(replicas))
	var total int64
	for i, r := range replicas {
		before[i] = r.fetches.Load()
		total += before[i]
	}
	rpctest.Eventually(t, fmt.Sprintf("%d more fetches", n), func() bool {
		var now int64
		for _, r := range replicas {
			now += r.fetches.Load()
		}
		return now >= total+n
	})
	var out []int
	for i, r := range replicas {
		if r.fetches.Load() > before[i] {
			out = append(out, i)
		}
	}
	return out
}

// everyoneSees changes the conversation and checks that every subscriber
// of the given replicas gets the new state.
func everyoneSees(t *testing.T, src *source, replicas []*replica, priority int32) {
	t.Helper()
	src.change(func(c *smartassistv1.Conversation) { c.Priority = proto.Int32(priority) })
	for _, r := range replicas {
		for _, ch := range r.chans {
			checkState(t, next(t, ch), src.current())
		}
	}
}

// TestReplicasShareOnePoller: three replicas with twenty watchers each of
// one conversation poll it from one replica only, and all watchers see
// each change; when that replica stops, another takes over, alone.
func TestReplicasShareOnePoller(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	src := newSource()
	replicas := startReplicas(t, s, src, 3, 20, 30*time.Millisecond)

	pollers := pollingFor(t, replicas, 10)
	if len(pollers) != 1 {
		t.Fatalf("replicas %v polled, want exactly one", pollers)
	}
	total := int64(0)
	for _, r := range replicas {
		total += r.fetches.Load()
	}
	t.Logf("60 watchers on 3 replicas: replica %d polls; %d fetches in all", pollers[0], total)
	everyoneSees(t, src, replicas, 7)

	// The holder stops: its watchers end, it gives up the lease, and one
	// of the others polls from then on.
	holder := replicas[pollers[0]]
	holder.hub.Close()
	for _, ch := range holder.chans {
		ended(t, ch)
	}
	var rest []*replica
	for i, r := range replicas {
		if i != pollers[0] {
			rest = append(rest, r)
		}
	}
	rpctest.Eventually(t, "another replica takes over", func() bool { return len(polling(rest, 100*time.Millisecond)) > 0 })
	if p := pollingFor(t, rest, 6); len(p) != 1 {
		t.Errorf("after the takeover, replicas %v of the rest polled, want exactly one", p)
	}
	everyoneSees(t, src, rest, 8)

	// CLOSED, seen by the one that polls, ends every watch everywhere.
	src.change(func(c *smartassistv1.Conversation) { c.Status = "CLOSED" })
	for _, r := range rest {
		for _, ch := range r.chans {
			checkState(t, next(t, ch), src.current())
			ended(t, ch)
		}
		rpctest.Eventually(t, "pollers stop after CLOSED", func() bool { return r.hub.Pollers() == 0 })
	}
}

// TestLeaseExpires: when the replica holding the lease stops renewing it
// without giving it up (it died), another takes over once it expires.
func TestLeaseExpires(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	rdb := s.Client(t)
	src := newSource()
	replicas := startReplicas(t, s, src, 1, 1, 30*time.Millisecond)
	keys, err := rdb.Keys(t.Context(), "smartassist-bridge:watch:*lease").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("lease keys: %v, %v", keys, err)
	}
	// The lease now held, for one more second, by a replica that died.
	if err := rdb.Set(t.Context(), keys[0], "a replica that died", 2*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a round that renewed the lease just before ends
	if p := polling(replicas, 300*time.Millisecond); len(p) != 0 {
		t.Errorf("replica polled while another held the lease")
	}
	rpctest.Eventually(t, "the lease expires and the replica polls", func() bool { return len(polling(replicas, 50*time.Millisecond)) == 1 })
}

// TestRedisOutage: when Redis goes away every replica polls for itself and
// no watch ends; when it comes back, one poller again.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	src := newSource()
	replicas := startReplicas(t, s, src, 2, 5, 30*time.Millisecond)
	if p := pollingFor(t, replicas, 6); len(p) != 1 {
		t.Fatalf("replicas %v polled, want one", p)
	}

	s.Stop()
	rpctest.Eventually(t, "both replicas poll while Redis is down", func() bool { return len(polling(replicas, 200*time.Millisecond)) == 2 })
	everyoneSees(t, src, replicas, 3)

	s.Restart(t)
	rpctest.Eventually(t, "one poller again once Redis is back", func() bool { return len(polling(replicas, 300*time.Millisecond)) == 1 })
	if p := pollingFor(t, replicas, 6); len(p) != 1 {
		t.Errorf("with Redis back, replicas %v polled, want one", p)
	}
	everyoneSees(t, src, replicas, 4)
	for i, r := range replicas {
		if n := r.hub.Pollers(); n != 1 {
			t.Errorf("replica %d runs %d pollers, want 1", i, n)
		}
	}
}
