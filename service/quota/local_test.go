package quota_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartassist-bridge/smartassist-bridge/service/quota"
)

func TestLocalNeverMoreThanN(t *testing.T) {
	t.Parallel()
	rate := quota.Rate{N: 10, Per: 300 * time.Millisecond}
	var c counters
	g := newGuard(t, quota.Config{Rate: rate, Hooks: c.hooks()})
	times := sendAll(t, []*quota.Guard{g}, "acct", 35, 5*time.Second)
	if len(times) != 35 {
		t.Fatalf("%d of 35 Acquires succeeded", len(times))
	}
	checkAtMost(t, times, rate.N, rate.Per)
	// At least: a caller woken late (an overloaded machine) queues again.
	if got := c.waits.Load(); got < 25 {
		t.Errorf("Wait hook saw %d waits; want 25 (all but the first 10)", got)
	}
	// The last of 35 needs three full windows: the guard waited, not refused.
	if span := times[34].Sub(times[0]); span < 3*rate.Window()-50*time.Millisecond {
		t.Errorf("35 sends spanned %v; want about %v", span, 3*rate.Window())
	}
}

// TestLocalRefusal uses a frozen clock, so every refusal's RetryDelay can be
// compared exactly with the slot computed by hand.
func TestLocalRefusal(t *testing.T) {
	t.Parallel()
	rate := quota.Rate{N: 3, Per: time.Second} // window 1.1s
	tests := []struct {
		name     string
		before   int           // Acquires granted before, at the same instant
		backoff  time.Duration // Backoff before the Acquire
		deadline time.Duration // from now; 0: none
		want     time.Duration // RetryDelay; 0: granted at once
	}{
		{name: "free slot without deadline", before: 2},
		{name: "free slot with a deadline shorter than the allowance", before: 2, deadline: 10 * time.Millisecond},
		{name: "full, deadline before the slot", before: 3, deadline: time.Second, want: 1100 * time.Millisecond},
		{name: "full, slot inside the deadline but not its allowance", before: 3, deadline: 1150 * time.Millisecond, want: 1100 * time.Millisecond},
		{name: "backed off", backoff: 5 * time.Second, deadline: time.Second, want: 5 * time.Second},
		{name: "backed off beyond a full log", before: 3, backoff: 2 * time.Second, deadline: time.Second, want: 2 * time.Second},
		{name: "full log beyond a back-off", before: 3, backoff: 500 * time.Millisecond, deadline: time.Second, want: 1100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := time.Now()
			var c counters
			g := newGuard(t, quota.Config{Rate: rate, Hooks: c.hooks(), Now: func() time.Time { return now }})
			for range tt.before {
				if err := g.Acquire(context.Background(), "acct"); err != nil {
					t.Fatalf("Acquire %v", err)
				}
			}
			g.Backoff("acct", tt.backoff)
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, now.Add(tt.deadline))
				defer cancel()
			}
			err := g.Acquire(ctx, "acct")
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("Acquire = %v; want a free slot", err)
				}
				return
			}
			var ex *quota.ExhaustedError
			if !errors.As(err, &ex) {
				t.Fatalf("Acquire = %v; want *ExhaustedError", err)
			}
			if ex.RetryDelay() != tt.want {
				t.Errorf("RetryDelay = %v; want exactly %v", ex.RetryDelay(), tt.want)
			}
			if got := c.refused.Load(); got != 1 {
				t.Errorf("Refused hook called %d times; want 1", got)
			}
			// A refusal reserves nothing: the same call is refused alike.
			if err := g.Acquire(ctx, "acct"); !errors.As(err, &ex) || ex.RetryDelay() != tt.want {
				t.Errorf("second Acquire = %v; want the same refusal", err)
			}
		})
	}
}

func TestExhaustedErrorMessage(t *testing.T) {
	t.Parallel()
	err := &quota.ExhaustedError{Rate: quota.Rate{N: 60, Per: time.Minute}, RetryAfter: 12345 * time.Millisecond}
	const want = "the account's SmartAssist quota (60 per 1m0s) has no free slot for 12.345s"
	if err.Error() != want {
		t.Errorf("Error() = %q; want %q", err.Error(), want)
	}
}

func TestLocalWaitsWhileDeadlineAllows(t *testing.T) {
	t.Parallel()
	rate := quota.Rate{N: 2, Per: 200 * time.Millisecond} // window 300ms
	g := newGuard(t, quota.Config{Rate: rate})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	for range 3 {
		if err := g.Acquire(ctx, "acct"); err != nil {
			t.Fatalf("Acquire: %v", err)
		}
	}
	if took := time.Since(start); took < rate.Window() {
		t.Errorf("the third Acquire returned after %v; want it to wait for the slot at %v", took, rate.Window())
	}
}

func TestLocalContextEndsWhileWaiting(t *testing.T) {
	t.Parallel()
	g := newGuard(t, quota.Config{Rate: quota.Rate{N: 1, Per: time.Second}})
	if err := g.Acquire(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("caller left")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(cause) })
	if err := g.Acquire(ctx, "acct"); !errors.Is(err, cause) {
		t.Fatalf("Acquire = %v; want the context's cause", err)
	}
}

func TestLocalBackoff(t *testing.T) {
	t.Parallel()
	g := newGuard(t, quota.Config{Rate: quota.Rate{N: 100, Per: time.Second}})
	// Long enough that "at once" and "about the back-off" hold however
	// slowly the test runs.
	const backoff = 2 * time.Second
	start := time.Now()
	g.Backoff("a", backoff)

	short, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	var ex *quota.ExhaustedError
	if err := g.Acquire(short, "a"); !errors.As(err, &ex) || !within(ex.RetryDelay(), backoff, 500*time.Millisecond) {
		t.Errorf("Acquire during the back-off with a short deadline = %v; want a refusal with RetryDelay about %v", err, backoff)
	}
	if err := g.Acquire(context.Background(), "b"); err != nil || time.Since(start) > time.Second {
		t.Errorf("another account: Acquire = %v after %v; want at once", err, time.Since(start))
	}
	if err := g.Acquire(context.Background(), "a"); err != nil || time.Since(start) < backoff {
		t.Errorf("backed-off account: Acquire = %v after %v; want nil after %v", err, time.Since(start), backoff)
	}
}

// TestBackoffWhileWaiting: a 429 that arrives while an Acquire waits for its
// slot sends it to queue again behind the back-off.
func TestBackoffWhileWaiting(t *testing.T) {
	t.Parallel()
	g := newGuard(t, quota.Config{Rate: quota.Rate{N: 1, Per: 200 * time.Millisecond}}) // window 300ms
	if err := g.Acquire(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.AfterFunc(100*time.Millisecond, func() { g.Backoff("a", 600*time.Millisecond) })
	if err := g.Acquire(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Errorf("Acquire returned after %v; want after the back-off ending at 700ms", took)
	}
}

func TestDisabled(t *testing.T) {
	t.Parallel()
	g := newGuard(t, quota.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g.Backoff("a", time.Hour)
	for range 1000 {
		if err := g.Acquire(ctx, "a"); err != nil {
			t.Fatalf("disabled guard: Acquire = %v", err)
		}
	}
	if !g.Healthy() || g.Status() != "disabled" {
		t.Errorf("Healthy, Status = %v, %q; want true, disabled", g.Healthy(), g.Status())
	}
}

func TestNewRejectsInvalidRate(t *testing.T) {
	t.Parallel()
	for _, r := range []quota.Rate{{N: -1, Per: time.Second}, {N: 1}, {N: 0, Per: time.Second}, {N: 1, Per: 48 * time.Hour}} {
		if _, err := quota.New(quota.Config{Rate: r}); err == nil {
			t.Errorf("New accepted %+v", r)
		}
	}
}

// TestLateWakeQueuesAgain: a caller woken long after its slot (here: the
// clock jumps while it waits, as for a process that got no CPU) does not
// send late on that slot; it reserves a new one.
func TestLateWakeQueuesAgain(t *testing.T) {
	t.Parallel()
	var (
		skew  atomic.Int64
		slots []time.Duration
		mu    sync.Mutex
	)
	g := newGuard(t, quota.Config{
		Rate: quota.Rate{N: 1, Per: 200 * time.Millisecond}, // window 300ms, margin 100ms
		Now:  func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
		Hooks: quota.Hooks{Wait: func(d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			slots = append(slots, d)
		}},
	})
	if err := g.Acquire(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, func() { skew.Store(int64(time.Second)) })
	if err := g.Acquire(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slots) != 3 || slots[1] <= 0 || slots[2] != 0 {
		t.Errorf("reserved waits %v; want [0, ~300ms, 0]: the late caller reserves again", slots)
	}
}
