package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// quota is SmartAssist's per-account budget: at most N requests in any
// interval of length Window. The zero value is no quota.
type quota struct {
	N      int
	Window time.Duration
}

// parseQuota reads "N/DURATION" (e.g. "10/10s", "60/1m"); "" and "0" are no
// quota.
func parseQuota(s string) (quota, error) {
	if s == "" || s == "0" {
		return quota{}, nil
	}
	ns, ds, ok := strings.Cut(s, "/")
	if !ok {
		return quota{}, fmt.Errorf("quota %q: want N/DURATION, e.g. 10/10s", s)
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 {
		return quota{}, fmt.Errorf("quota %q: N must be a positive integer", s)
	}
	d, err := time.ParseDuration(ds)
	if err != nil || d <= 0 {
		return quota{}, fmt.Errorf("quota %q: DURATION must be a positive Go duration", s)
	}
	return quota{N: n, Window: d}, nil
}

// slidingLog enforces a quota per account with a log of the times of the
// requests it accepted. Unlike a token bucket, which lets a full burst
// through and then refills (up to 2N in one window of an unknown alignment),
// it never accepts more than N requests in any interval of length Window:
// a request at t is accepted only when fewer than N accepted requests lie in
// (t-Window, t]. Refused requests are not logged, so they cost no budget.
type slidingLog struct {
	q        quota
	mu       sync.Mutex
	accepted map[string][]time.Time // per account, oldest first
}

func newSlidingLog(q quota) *slidingLog {
	return &slidingLog{q: q, accepted: map[string][]time.Time{}}
}

// admit decides on a request of account at now. When it refuses, wait is
// how long until the oldest accepted request leaves the window.
func (l *slidingLog) admit(account string, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	times := l.accepted[account]
	// Drop what lies outside (now-Window, now].
	i := 0
	for i < len(times) && !times[i].After(now.Add(-l.q.Window)) {
		i++
	}
	times = times[i:]
	if len(times) >= l.q.N {
		l.accepted[account] = times
		return false, times[0].Add(l.q.Window).Sub(now)
	}
	l.accepted[account] = append(times, now)
	return true, 0
}

// retryAfterSeconds is a wait as an HTTP Retry-After value: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}
