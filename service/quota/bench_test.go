package quota_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/smartassist-bridge/smartassist-bridge/service/quota"
	"github.com/smartassist-bridge/smartassist-bridge/service/redistest"
)

// BenchmarkAcquire measures the cost of one Acquire that finds a free slot
// (the common case), over 1,000 accounts with a budget no benchmark reaches.
// Measurements only.
//
//	go test -run '^$' -bench Acquire -benchmem ./service/quota/
func BenchmarkAcquire(b *testing.B) {
	rate := quota.Rate{N: 100_000, Per: time.Millisecond}
	accounts := make([]string, 1000)
	for i := range accounts {
		accounts[i] = "account-" + strconv.Itoa(i)
	}
	run := func(b *testing.B, g *quota.Guard) {
		b.ReportAllocs()
		ctx := context.Background()
		i := 0
		for b.Loop() {
			if err := g.Acquire(ctx, accounts[i%len(accounts)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	b.Run("local", func(b *testing.B) {
		run(b, newGuard(b, quota.Config{Rate: rate}))
	})
	b.Run("redis", func(b *testing.B) {
		s := redistest.Start(b)
		run(b, newGuard(b, quota.Config{Rate: rate, Redis: s.Client(b), Replicas: 3}))
	})
	b.Run("fallback", func(b *testing.B) {
		s := redistest.Start(b)
		g := newGuard(b, quota.Config{
			Rate: rate, Redis: s.Client(b), Replicas: 3, ProbeInterval: time.Hour,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		s.Stop()
		// The first call finds Redis gone (it costs up to the Redis timeout).
		if err := g.Acquire(context.Background(), "warm-up"); err != nil || g.Healthy() {
			b.Fatalf("Acquire = %v, Healthy = %v; want nil, false", err, g.Healthy())
		}
		run(b, g)
	})
}
