package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestParseQuota(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    quota
		wantErr bool
	}{
		{in: "", want: quota{}},
		{in: "0", want: quota{}},
		{in: "10/10s", want: quota{N: 10, Window: 10 * time.Second}},
		{in: "60/1m", want: quota{N: 60, Window: time.Minute}},
		{in: "10", wantErr: true},
		{in: "0/1s", wantErr: true},
		{in: "-1/1s", wantErr: true},
		{in: "10/0s", wantErr: true},
		{in: "10/soon", wantErr: true},
		{in: "x/1s", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseQuota(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseQuota(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestSlidingLogNeverMoreThanNInAnyWindow drives random arrivals, bursts
// included, at two accounts and checks, for every request: an accepted one
// leaves at most N accepted in the window ending at it; a refused one found
// N there already (the log wastes no budget), and its wait is exactly the
// time until the oldest of them leaves the window.
func TestSlidingLogNeverMoreThanNInAnyWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		q    quota
	}{
		{name: "10 per 10s", q: quota{N: 10, Window: 10 * time.Second}},
		{name: "1 per 1s", q: quota{N: 1, Window: time.Second}},
		{name: "60 per 1m", q: quota{N: 60, Window: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newSlidingLog(tt.q)
			rng := rand.New(rand.NewPCG(1, 2))
			now := time.Unix(1_700_000_000, 0)
			accepted := map[string][]time.Time{}
			var nOK, nRefused int
			for range 5000 {
				// Mostly bursts (no time passes), sometimes a gap of up to
				// 2/N of the window: about 2N arrivals per window and account,
				// so windows fill and drain.
				if rng.IntN(4) == 0 {
					now = now.Add(time.Duration(rng.Int64N(int64(tt.q.Window) * 2 / int64(tt.q.N))))
				}
				account := []string{"acct-1", "acct-2"}[rng.IntN(2)]
				kept := accepted[account][:0]
				for _, at := range accepted[account] {
					if at.After(now.Add(-tt.q.Window)) {
						kept = append(kept, at)
					}
				}
				accepted[account] = kept
				inWindow := len(kept)
				var oldest time.Time
				if inWindow > 0 {
					oldest = kept[0]
				}
				ok, wait := l.admit(account, now)
				switch {
				case ok && inWindow >= tt.q.N:
					t.Fatalf("%s at %v: accepted with %d already in the window, N=%d", account, now, inWindow, tt.q.N)
				case !ok && inWindow < tt.q.N:
					t.Fatalf("%s at %v: refused with only %d in the window, N=%d", account, now, inWindow, tt.q.N)
				case !ok && wait != oldest.Add(tt.q.Window).Sub(now):
					t.Fatalf("%s at %v: wait %v, want %v", account, now, wait, oldest.Add(tt.q.Window).Sub(now))
				case ok:
					accepted[account] = append(accepted[account], now)
					nOK++
				default:
					nRefused++
				}
			}
			if nOK == 0 || nRefused == 0 {
				t.Fatalf("accepted %d, refused %d: the run did not exercise both sides", nOK, nRefused)
			}
		})
	}
}

// TestSlidingLogIsNotABucket is the case a token bucket gets wrong: a full
// burst at the end of one window must not be followed by another full burst
// right after.
func TestSlidingLogIsNotABucket(t *testing.T) {
	t.Parallel()
	l := newSlidingLog(quota{N: 10, Window: 10 * time.Second})
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 10 {
		if ok, _ := l.admit("a", t0.Add(9*time.Second)); !ok {
			t.Fatalf("request %d of the first burst refused", i)
		}
	}
	// 1.5 s later a bucket refilled at N/window would hold 1.5 tokens and a
	// fixed window aligned at t0+10s would be empty; the log allows nothing
	// until t0+19s.
	if ok, wait := l.admit("a", t0.Add(10500*time.Millisecond)); ok || wait != 8500*time.Millisecond {
		t.Fatalf("after the burst: ok=%v wait=%v, want refused with wait 8.5s", ok, wait)
	}
	if ok, _ := l.admit("a", t0.Add(19*time.Second)); !ok {
		t.Fatal("one window after the burst: refused")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		wait time.Duration
		want string
	}{
		{0, "1"},
		{time.Millisecond, "1"},
		{time.Second, "1"},
		{1001 * time.Millisecond, "2"},
		{8500 * time.Millisecond, "9"},
		{60 * time.Second, "60"},
	}
	for _, tt := range tests {
		if got := retryAfterSeconds(tt.wait); got != tt.want {
			t.Errorf("retryAfterSeconds(%v) = %q, want %q", tt.wait, got, tt.want)
		}
	}
}
