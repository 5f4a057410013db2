package quota

import (
	"slices"
	"sync"
	"time"
)

// sendLog is this replica's own record, per account, of the send times it
// reserved (in Redis mode too, so that a fallback counts them) and of the
// back-off SmartAssist asked for. It is also the whole limiter when there is
// no Redis, and the fallback limiter when Redis is unreachable.
//
// Memory is bounded: an account keeps at most keep send times (only the
// keep-th most recent one and the last one ever decide a slot), entries
// older than one window are dropped, and an account with nothing left is
// removed by a sweep that runs at most once per window.
type sendLog struct {
	window time.Duration
	keep   int

	mu        sync.Mutex
	accounts  map[string]*accountLog
	lastSweep time.Time
}

type accountLog struct {
	sends        []time.Time // sorted, at most keep, none older than one window
	backoffUntil time.Time
	// unshared are the sends of sends reserved while Redis was unreachable
	// and not yet added to Redis: on rejoining, the guard adds them, so that
	// the other replicas count them in the window that straddles the switch.
	unshared []time.Time
}

func newSendLog(window time.Duration, keep int) *sendLog {
	return &sendLog{window: window, keep: keep, accounts: map[string]*accountLog{}}
}

// reserve gives account the earliest slot at or after now that keeps at
// most budget reserved sends in any interval of one window, after any
// back-off and not before the last reserved send (so the log stays sorted by
// appending, and a slot never sneaks in between sends reserved earlier). If
// the slot is more than maxDelay away (maxDelay < 0: no limit) and a wait is
// needed at all, nothing is reserved and ok is false. A fallback reservation
// is also kept as unshared until Redis knows it.
func (l *sendLog) reserve(account string, now time.Time, budget int, maxDelay time.Duration, fallback bool) (slot time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.account(account, now)
	slot = now
	if a.backoffUntil.After(slot) {
		slot = a.backoffUntil
	}
	if n := len(a.sends); n > 0 {
		if last := a.sends[n-1]; last.After(slot) {
			slot = last
		}
		if n >= budget {
			if s := a.sends[n-budget].Add(l.window); s.After(slot) {
				slot = s
			}
		}
	}
	if d := slot.Sub(now); d > 0 && maxDelay >= 0 && d > maxDelay {
		return slot, false
	}
	a.sends = insertSorted(a.sends, slot, l.keep)
	if fallback {
		a.unshared = insertSorted(a.unshared, slot, l.keep)
	}
	return slot, true
}

// unshared returns account's fallback sends of the last window that Redis
// does not know yet.
func (l *sendLog) unshared(account string, now time.Time) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.accounts[account]
	if !ok || len(a.unshared) == 0 {
		return nil
	}
	a.prune(now, l.window)
	return slices.Clone(a.unshared)
}

// shared notes that Redis now knows account's unshared sends up to last.
func (l *sendLog) shared(account string, last time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a, ok := l.accounts[account]; ok {
		i := 0
		for i < len(a.unshared) && !a.unshared[i].After(last) {
			i++
		}
		a.unshared = slices.Delete(a.unshared, 0, i)
	}
}

// record notes a send reserved elsewhere (through Redis) at slot.
func (l *sendLog) record(account string, now, slot time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.account(account, now)
	a.sends = insertSorted(a.sends, slot, l.keep)
}

// backoff makes account wait until until (a later back-off never shortens
// an earlier, longer one).
func (l *sendLog) backoff(account string, now, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.account(account, now)
	if until.After(a.backoffUntil) {
		a.backoffUntil = until
	}
}

// backoffs returns the back-offs still running, by account.
func (l *sendLog) backoffs(now time.Time) map[string]time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	left := map[string]time.Duration{}
	for name, a := range l.accounts {
		if a.backoffUntil.After(now) {
			left[name] = a.backoffUntil.Sub(now)
		}
	}
	return left
}

// backoffRemaining is how long account must still wait for a back-off.
func (l *sendLog) backoffRemaining(account string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a, ok := l.accounts[account]; ok && a.backoffUntil.After(now) {
		return a.backoffUntil.Sub(now)
	}
	return 0
}

// size is the number of accounts held (for tests of the bound).
func (l *sendLog) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accounts)
}

// account returns account's log pruned to the current window, creating it
// if needed, and sweeps idle accounts at most once per window. l.mu is held.
func (l *sendLog) account(account string, now time.Time) *accountLog {
	if now.Sub(l.lastSweep) > l.window {
		l.lastSweep = now
		for id, a := range l.accounts {
			a.prune(now, l.window)
			if len(a.sends) == 0 && len(a.unshared) == 0 && !a.backoffUntil.After(now) {
				delete(l.accounts, id)
			}
		}
	}
	a, ok := l.accounts[account]
	if !ok {
		a = &accountLog{}
		l.accounts[account] = a
	}
	a.prune(now, l.window)
	return a
}

// prune drops sends older than one window: they can no longer delay a slot.
func (a *accountLog) prune(now time.Time, window time.Duration) {
	cutoff := now.Add(-window)
	a.sends = dropBefore(a.sends, cutoff)
	a.unshared = dropBefore(a.unshared, cutoff)
}

func dropBefore(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(cutoff) {
		i++
	}
	return slices.Delete(ts, 0, i)
}

// insertSorted inserts t into sorted ts, keeping the latest keep.
func insertSorted(ts []time.Time, t time.Time, keep int) []time.Time {
	i, _ := slices.BinarySearchFunc(ts, t, time.Time.Compare)
	// Equal times go after the existing ones, so appending stays O(1).
	for i < len(ts) && ts[i].Equal(t) {
		i++
	}
	ts = slices.Insert(ts, i, t)
	if over := len(ts) - keep; over > 0 {
		ts = slices.Delete(ts, 0, over)
	}
	return ts
}
