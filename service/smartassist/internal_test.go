package smartassist

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffCeiling(t *testing.T) {
	t.Parallel()
	// With the jitter replaced by the identity, backoff returns its ceiling.
	c := &Client{backoffBase: 100 * time.Millisecond, backoffMax: 2 * time.Second,
		jitter: func(d time.Duration) time.Duration { return d }}
	tests := []struct {
		retry int
		want  time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, 1600 * time.Millisecond},
		{6, 2 * time.Second},
		{1000, 2 * time.Second}, // no overflow
	}
	for _, tt := range tests {
		if got := c.backoff(tt.retry); got != tt.want {
			t.Errorf("backoff(%d) = %s, want %s", tt.retry, got, tt.want)
		}
	}
}

func TestFullJitterBounds(t *testing.T) {
	t.Parallel()
	for range 1000 {
		if d := fullJitter(10 * time.Millisecond); d < 0 || d > 10*time.Millisecond {
			t.Fatalf("fullJitter(10ms) = %s, want in [0, 10ms]", d)
		}
	}
	if d := fullJitter(0); d != 0 {
		t.Errorf("fullJitter(0) = %s, want 0", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 7 ", 7 * time.Second, true},
		{"120", 2 * time.Minute, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"999999999999", maxRetryAfter, true},
		{"99999999999999999999999", maxRetryAfter, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	e := &Error{Op: "get conversation", Kind: KindStatus, HTTPStatus: 429, UpstreamCode: "429", UpstreamMsg: "slow\ndown",
		RetryAfter: 3 * time.Second, Attempts: 2}
	want := `smartassist: get conversation: status: HTTP 429, upstream code "429", upstream msg "slow\ndown", retry after 3s (attempts: 2)`
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}
