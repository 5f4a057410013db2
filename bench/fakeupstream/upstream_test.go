package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func startFake(t *testing.T, opts options) (*httptest.Server, *clock) {
	t.Helper()
	c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	opts.now = c.Now
	u, err := newUpstream(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(u.handler())
	t.Cleanup(srv.Close)
	return srv, c
}

type answer struct {
	status     int
	retryAfter string
	body       string
}

func get(t *testing.T, url, account string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("auth", "test-token")
	if account != "" {
		req.Header.Set("accountId", account)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(body)}
}

func fetchStats(t *testing.T, base string) statsJSON {
	t.Helper()
	resp, err := http.Get(base + "/_stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s statsJSON
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

const convPath = "/agentassist/api/v1/public/st-1/conversations/"

// TestQuotaOverHTTP: N requests of an account pass, the next gets
// SmartAssist's 429 with Retry-After, another account is not affected, the
// budget returns when the window has moved on, and /_stats counts it all.
func TestQuotaOverHTTP(t *testing.T) {
	t.Parallel()
	srv, clk := startFake(t, options{quota: quota{N: 3, Window: 10 * time.Second}})
	for i := range 3 {
		if a := get(t, srv.URL+convPath+"c-1", "acct-1"); a.status != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i+1, a.status)
		}
		clk.Advance(time.Second)
	}
	// The first request left the window at t=10s; now t=3s: 7 s to wait.
	want := answer{status: http.StatusTooManyRequests, retryAfter: "7", body: rateLimitBody}
	if diff := cmp.Diff(want, get(t, srv.URL+convPath+"c-2", "acct-1"), cmp.AllowUnexported(answer{})); diff != "" {
		t.Errorf("4th request (-want +got):\n%s", diff)
	}
	if a := get(t, srv.URL+convPath+"c-2", "acct-2"); a.status != http.StatusOK {
		t.Errorf("other account: status %d, want 200", a.status)
	}
	clk.Advance(6500 * time.Millisecond) // t=9.5s: still refused, 0.5 s rounds up to 1
	if a := get(t, srv.URL+convPath+"c-2", "acct-1"); a.status != http.StatusTooManyRequests || a.retryAfter != "1" {
		t.Errorf("at 9.5s: status %d Retry-After %q, want 429 and 1", a.status, a.retryAfter)
	}
	clk.Advance(500 * time.Millisecond)
	if a := get(t, srv.URL+convPath+"c-2", "acct-1"); a.status != http.StatusOK {
		t.Errorf("at 10s: status %d, want 200", a.status)
	}
	wantStats := statsJSON{
		Requests: 7, OK: 5, RateLimited: 2,
		ByConversation: map[string]int64{"c-1": 3, "c-2": 4},
	}
	if diff := cmp.Diff(wantStats, fetchStats(t, srv.URL)); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	resp, err := http.Post(srv.URL+"/_stats/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := cmp.Diff(statsJSON{ByConversation: map[string]int64{}}, fetchStats(t, srv.URL)); diff != "" {
		t.Errorf("stats after reset (-want +got):\n%s", diff)
	}
}

func TestConversationAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    options
		id      string
		wantID  string
		verbose bool
	}{
		{name: "sample byte for byte", id: "c-any", wantID: demo.ConversationID, verbose: true},
		{name: "echo id", opts: options{echoID: true}, id: "c-any", wantID: "c-any"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := startFake(t, tt.opts)
			a := get(t, srv.URL+convPath+tt.id, "")
			if a.status != http.StatusOK {
				t.Fatalf("status %d", a.status)
			}
			if tt.verbose && a.body != string(demo.Conversation) {
				t.Error("the answer is not the sample byte for byte")
			}
			var c struct {
				ID string `json:"_id"`
			}
			if err := json.Unmarshal([]byte(a.body), &c); err != nil || c.ID != tt.wantID {
				t.Errorf("_id %q (%v), want %q", c.ID, err, tt.wantID)
			}
		})
	}
}

func TestNoAuthIs401(t *testing.T) {
	t.Parallel()
	srv, _ := startFake(t, options{quota: quota{N: 1, Window: time.Minute}})
	for range 2 { // never rate-limited: refused before the quota
		resp, err := http.Get(srv.URL + convPath + "c-1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	}
	if s := fetchStats(t, srv.URL); s.Unauthorized != 2 || s.RateLimited != 0 {
		t.Errorf("stats %+v, want 2 unauthorized and none rate-limited", s)
	}
}

// TestLiveConversation: updatedAt advances every period from the first
// request, the status turns CLOSED at close-after and stays so.
func TestLiveConversation(t *testing.T) {
	t.Parallel()
	srv, clk := startFake(t, options{livePrefix: "c-live-", livePeriod: 2 * time.Second, liveCloseAfter: 5 * time.Second})
	type state struct{ ID, Status, UpdatedAt string }
	read := func() state {
		var c struct {
			ID        string `json:"_id"`
			Status    string `json:"status"`
			UpdatedAt string `json:"updatedAt"`
		}
		a := get(t, srv.URL+convPath+"c-live-1", "")
		if err := json.Unmarshal([]byte(a.body), &c); err != nil {
			t.Fatalf("status %d: %v", a.status, err)
		}
		return state(c)
	}
	steps := []struct {
		advance time.Duration
		want    state
	}{
		{0, state{"c-live-1", "ACTIVE", "2026-01-02T03:04:05.000Z"}},
		{1900 * time.Millisecond, state{"c-live-1", "ACTIVE", "2026-01-02T03:04:05.000Z"}},
		{100 * time.Millisecond, state{"c-live-1", "ACTIVE", "2026-01-02T03:04:07.000Z"}},
		{2 * time.Second, state{"c-live-1", "ACTIVE", "2026-01-02T03:04:09.000Z"}},
		{time.Second, state{"c-live-1", "CLOSED", "2026-01-02T03:04:10.000Z"}},
		{time.Minute, state{"c-live-1", "CLOSED", "2026-01-02T03:04:10.000Z"}},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if got := read(); got != s.want {
			t.Errorf("step %d: %+v, want %+v", i, got, s.want)
		}
	}
	// Other ids are not live.
	a := get(t, srv.URL+convPath+"c-other", "")
	if !strings.Contains(a.body, `"status": "CLOSED"`) || !strings.Contains(a.body, demo.ConversationID) {
		t.Error("a non-live id did not get the sample")
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	srv, _ := startFake(t, options{})
	const list = "/agentassist/api/v1/public/st-1/conversations"
	type page struct {
		Results []struct {
			ID     string `json:"_id"`
			Status string `json:"status"`
		} `json:"results"`
		Skip, Limit, TotalPages, TotalResults int
		HasMore                               bool
	}
	tests := []struct {
		query                  string
		wantIDs                []string
		wantMore               bool
		wantPages, wantResults int
	}{
		{"?limit=5", []string{"c-list-01", "c-list-02", "c-list-03", "c-list-04", "c-list-05"}, true, 3, 12},
		{"?skip=10&limit=5", []string{"c-list-11", "c-list-12"}, false, 3, 12},
		{"?status=CLOSED", []string{"c-list-01", "c-list-07"}, false, 1, 2},
		{"?status=CLOSED&status=ACTIVE&limit=3", []string{"c-list-01", "c-list-02", "c-list-07"}, true, 2, 4},
		{"?status=CLOSED,ACTIVE&language=en", []string{"c-list-01", "c-list-07"}, false, 1, 2},
		{"?source=audiocodes&skip=4", []string{}, false, 1, 4},
		{"?status=NONE", []string{}, false, 0, 0},
	}
	for _, tt := range tests {
		a := get(t, srv.URL+list+tt.query, "")
		if a.status != http.StatusOK {
			t.Errorf("%s: status %d", tt.query, a.status)
			continue
		}
		var p page
		if err := json.Unmarshal([]byte(a.body), &p); err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		ids := []string{}
		for _, r := range p.Results {
			ids = append(ids, r.ID)
		}
		if diff := cmp.Diff(tt.wantIDs, ids); diff != "" || p.HasMore != tt.wantMore || p.TotalPages != tt.wantPages || p.TotalResults != tt.wantResults {
			t.Errorf("%s: ids (-want +got) %s; hasMore=%v totalPages=%d totalResults=%d, want %v %d %d",
				tt.query, diff, p.HasMore, p.TotalPages, p.TotalResults, tt.wantMore, tt.wantPages, tt.wantResults)
		}
	}
	if a := get(t, srv.URL+list+"?skip=-1", ""); a.status != http.StatusBadRequest {
		t.Errorf("skip=-1: status %d, want 400", a.status)
	}
	if s := fetchStats(t, srv.URL); s.List != int64(len(tests)+1) {
		t.Errorf("stats list=%d, want %d", s.List, len(tests)+1)
	}
}
