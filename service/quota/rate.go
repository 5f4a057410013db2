package quota

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits on a Rate. A guard keeps up to N send times per account, so N is
// bounded to keep memory per account bounded; a window below a millisecond
// or above a day is a typo, not a SmartAssist quota.
const (
	maxN   = 100_000
	minPer = time.Millisecond
	maxPer = 24 * time.Hour
)

// Rate is a quota of N requests per Per. The zero Rate is disabled: no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// Disabled reports whether r imposes no limit.
func (r Rate) Disabled() bool { return r.N == 0 }

// Margin is how much longer than Per the guard keeps requests apart: 2% of
// Per, and at least a second (or a tenth of Per for windows under ten
// seconds). A request is reserved at one instant and reaches SmartAssist
// later (minting a token, a new connection, scheduling on a busy host), by
// a different amount each time: the first of a burst can be late by
// hundreds of milliseconds while the one N later is not. Measured with
// e2e/quota/run on a loaded 2-core host, 100ms let 9 of 30 requests
// through as 429s; a second let none. The price is 2% of the quota at
// 60/1m.
func (r Rate) Margin() time.Duration {
	return max(r.Per/50, min(time.Second, r.Per/10))
}

// Window is Per plus Margin: the guard never reserves more than N requests
// in any interval of this length, hence never more than N in any interval
// of length Per as SmartAssist counts them.
func (r Rate) Window() time.Duration { return r.Per + r.Margin() }

// String returns r in the form ParseRate accepts, e.g. "60/1m0s" or "0".
func (r Rate) String() string {
	if r.Disabled() {
		return "0"
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

var errRateSyntax = errors.New("want N/DURATION such as 60/1m, or 0 to disable")

// ParseRate parses a quota written as N/DURATION ("60/1m", "10/500ms"), or
// "0" for no limit. N is a whole number from 1 to 100000; DURATION is a Go
// duration from 1ms to 24h.
func ParseRate(s string) (Rate, error) {
	if s == "0" {
		return Rate{}, nil
	}
	ns, ds, ok := strings.Cut(s, "/")
	if !ok || ns == "" || ds == "" {
		return Rate{}, fmt.Errorf("quota rate %q: %w", s, errRateSyntax)
	}
	for _, c := range ns {
		if c < '0' || c > '9' {
			return Rate{}, fmt.Errorf("quota rate %q: N must be a whole number: %w", s, errRateSyntax)
		}
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 || n > maxN {
		return Rate{}, fmt.Errorf("quota rate %q: N must be from 1 to %d (0 alone disables the quota)", s, maxN)
	}
	per, err := time.ParseDuration(ds)
	if err != nil {
		return Rate{}, fmt.Errorf("quota rate %q: DURATION: %w", s, err)
	}
	if per < minPer || per > maxPer {
		return Rate{}, fmt.Errorf("quota rate %q: DURATION must be from %v to %v", s, minPer, maxPer)
	}
	return Rate{N: n, Per: per}, nil
}

// validate checks a Rate built by hand rather than by ParseRate.
func (r Rate) validate() error {
	if r.Disabled() {
		if r.Per != 0 {
			return fmt.Errorf("quota rate 0/%v: use the zero Rate to disable the quota", r.Per)
		}
		return nil
	}
	if r.N < 1 || r.N > maxN || r.Per < minPer || r.Per > maxPer {
		return fmt.Errorf("quota rate %d/%v: N must be from 1 to %d and DURATION from %v to %v", r.N, r.Per, maxN, minPer, maxPer)
	}
	return nil
}
