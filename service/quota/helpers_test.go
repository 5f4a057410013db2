package quota_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartassist-bridge/smartassist-bridge/service/quota"
)

// sendAll runs calls concurrent Acquires for account, spread round-robin
// over guards (replicas), each with deadline timeout, and returns the sorted
// times at which they were let through. Any error fails the test.
func sendAll(t *testing.T, guards []*quota.Guard, account string, calls int, timeout time.Duration) []time.Time {
	t.Helper()
	var (
		mu    sync.Mutex
		times []time.Time
		wg    sync.WaitGroup
	)
	for i := range calls {
		g := guards[i%len(guards)]
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if err := g.Acquire(ctx, account); err != nil {
				t.Errorf("Acquire: %v", err)
				return
			}
			now := time.Now()
			mu.Lock()
			times = append(times, now)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(times, time.Time.Compare)
	return times
}

// checkAtMost fails unless sorted times hold at most n in any interval of
// length per: t[i+n] - t[i] >= per for every i.
func checkAtMost(t *testing.T, times []time.Time, n int, per time.Duration) {
	t.Helper()
	for i := 0; i+n < len(times); i++ {
		if d := times[i+n].Sub(times[i]); d < per {
			t.Errorf("sends %d and %d are %v apart: %d sends inside %v; want at most %d", i, i+n, d, n+1, per, n)
		}
	}
}

// counters records hook calls.
type counters struct {
	waits, refused, redisErrors, fallbackOn, fallbackOff atomic.Int64
}

func (c *counters) hooks() quota.Hooks {
	return quota.Hooks{
		Wait: func(d time.Duration) {
			if d > 0 {
				c.waits.Add(1)
			}
		},
		Refused:    func() { c.refused.Add(1) },
		RedisError: func() { c.redisErrors.Add(1) },
		Fallback: func(active bool) {
			if active {
				c.fallbackOn.Add(1)
			} else {
				c.fallbackOff.Add(1)
			}
		},
	}
}

func newGuard(t testing.TB, cfg quota.Config) *quota.Guard {
	t.Helper()
	g, err := quota.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func within(got, want, tolerance time.Duration) bool {
	return got >= want-tolerance && got <= want+tolerance
}
