package quota

import (
	"strconv"
	"testing"
	"time"
)

// TestSendLogBounded: idle accounts are swept and an account keeps at most N
// send times, so memory does not grow with the number of accounts seen.
func TestSendLogBounded(t *testing.T) {
	t.Parallel()
	rate := Rate{N: 5, Per: time.Second}
	l := newSendLog(rate.Window(), rate.N)
	now := time.Now()
	for i := range 10_000 {
		if _, ok := l.reserve("acct-"+strconv.Itoa(i), now, rate.N, -1, true); !ok {
			t.Fatal("reserve refused without a deadline")
		}
	}
	for range 1000 {
		l.record("busy", now, now)
	}
	if n := len(l.accounts["busy"].sends); n != rate.N {
		t.Errorf("an account holds %d send times; want at most %d", n, rate.N)
	}
	later := now.Add(2 * rate.Window())
	l.reserve("new", later, rate.N, -1, false)
	if got := l.size(); got != 1 {
		t.Errorf("%d accounts held two windows later; want 1", got)
	}
}
