package redistest_test

import (
	"context"
	"testing"

	"github.com/smartassist-bridge/smartassist-bridge/service/redistest"
)

func TestStartStopRestart(t *testing.T) {
	s := redistest.Start(t)
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET on a started server: %v", err)
	}
	s.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded after Stop")
	}
	s.Restart(t)
	if got, err := c.Get(ctx, "k").Result(); err == nil {
		t.Fatalf("a restarted server still has k=%q; want it empty", got)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}
