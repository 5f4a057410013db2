package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
)

// options configure the fake; the zero value answers every id at once with
// the sample, byte for byte.
type options struct {
	delay      time.Duration // hold every answer
	slowPrefix string        // ids with this prefix are held for slowDelay instead
	slowDelay  time.Duration
	quota      quota // per accountId header; zero: none
	echoID     bool  // answer with "_id" set to the requested id
	// Ids with livePrefix are live: ACTIVE, with updatedAt advancing every
	// livePeriod from the first request for the id, until liveCloseAfter,
	// when they turn CLOSED for good. They always echo their id.
	livePrefix     string
	livePeriod     time.Duration
	liveCloseAfter time.Duration
	now            func() time.Time // nil: time.Now
}

// The spots of the sample that the fake rewrites. newUpstream checks that
// each occurs exactly once.
var (
	sampleID       = jsonKV("_id", demo.ConversationID)
	sampleStatus   = jsonKV("status", "CLOSED")
	sampleUpdated  = jsonKV("updatedAt", "2023-05-22T05:29:24.067Z")
	sampleSource   = jsonKV("source", "rtm")
	sampleLanguage = jsonKV("language", "en")
)

// jsonKV is a top-level member as the sample's formatting writes it.
func jsonKV(key, value string) string {
	v, _ := json.Marshal(value) // a string always marshals
	return fmt.Sprintf("%q: %s", key, v)
}

// rateLimitBody is SmartAssist's answer beyond its per-minute quota (Kore.ai's
// rate-limit documentation gives the message).
const rateLimitBody = `{"errors":[{"msg":"You've exceeded the per-minute rate limit","code":"429"}]}`

// upstream is the fake SmartAssist.
type upstream struct {
	opts   options
	limit  *slidingLog // nil: no quota
	sample string
	raw    []byte // sample, served as is on the fast path
	list   []listItem
	stats  stats

	liveMu    sync.Mutex
	liveStart map[string]time.Time // first request for each live id
}

// stats are what the fake was asked, for GET /_stats.
type stats struct {
	requests, ok, rateLimited, unauthorized, list atomic.Int64

	mu             sync.Mutex
	byConversation map[string]int64
}

// statsJSON is the body of GET /_stats.
type statsJSON struct {
	Requests       int64            `json:"requests"`     // every conversation and list request
	OK             int64            `json:"ok"`           // answered 200
	RateLimited    int64            `json:"rateLimited"`  // answered 429
	Unauthorized   int64            `json:"unauthorized"` // answered 401
	ByConversation map[string]int64 `json:"byConversation"`
	List           int64            `json:"list"` // list requests, whatever the answer
}

// listItem is one conversation of the list endpoint.
type listItem struct {
	status, source, language string
	body                     json.RawMessage
}

func newUpstream(opts options) (*upstream, error) {
	if opts.now == nil {
		opts.now = time.Now
	}
	if opts.livePrefix != "" && (opts.livePeriod <= 0 || opts.liveCloseAfter <= 0) {
		return nil, fmt.Errorf("--live-period and --live-close-after must be positive")
	}
	u := &upstream{
		opts:      opts,
		sample:    string(demo.Conversation),
		raw:       demo.Conversation,
		liveStart: map[string]time.Time{},
	}
	u.stats.byConversation = map[string]int64{}
	for _, kv := range []string{sampleID, sampleStatus, sampleUpdated, sampleSource, sampleLanguage} {
		if n := strings.Count(u.sample, kv); n != 1 {
			return nil, fmt.Errorf("the sample has %s %d times, want once", kv, n)
		}
	}
	if opts.quota.N > 0 {
		u.limit = newSlidingLog(opts.quota)
	}
	// A small, varied list: every status of the docs' enum, three sources,
	// three languages.
	statuses := []string{"CLOSED", "ACTIVE", "OPEN", "IDLE", "OVERDUE", "TERMINATED"}
	sources := []string{"rtm", "audiocodes", "msteams"}
	languages := []string{"en", "de", "es"}
	for i := range 12 {
		it := listItem{status: statuses[i%len(statuses)], source: sources[i%len(sources)], language: languages[i%len(languages)]}
		it.body = json.RawMessage(strings.NewReplacer(
			sampleID, jsonKV("_id", fmt.Sprintf("c-list-%02d", i+1)),
			sampleStatus, jsonKV("status", it.status),
			sampleSource, jsonKV("source", it.source),
			sampleLanguage, jsonKV("language", it.language),
		).Replace(u.sample))
		u.list = append(u.list, it)
	}
	return u, nil
}

func (u *upstream) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agentassist/api/v1/public/{streamId}/conversations/{conversationId}", u.getConversation)
	mux.HandleFunc("GET /agentassist/api/v1/public/{streamId}/conversations", u.listConversations)
	mux.HandleFunc("GET /served", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, u.stats.ok.Load())
	})
	mux.HandleFunc("GET /_stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(u.snapshot())
	})
	mux.HandleFunc("POST /_stats/reset", func(w http.ResponseWriter, _ *http.Request) {
		u.resetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func (u *upstream) snapshot() statsJSON {
	u.stats.mu.Lock()
	by := make(map[string]int64, len(u.stats.byConversation))
	for id, n := range u.stats.byConversation {
		by[id] = n
	}
	u.stats.mu.Unlock()
	return statsJSON{
		Requests:       u.stats.requests.Load(),
		OK:             u.stats.ok.Load(),
		RateLimited:    u.stats.rateLimited.Load(),
		Unauthorized:   u.stats.unauthorized.Load(),
		ByConversation: by,
		List:           u.stats.list.Load(),
	}
}

// resetStats zeroes the counters; the quota's log is SmartAssist's state
// and stays.
func (u *upstream) resetStats() {
	u.stats.mu.Lock()
	defer u.stats.mu.Unlock()
	u.stats.requests.Store(0)
	u.stats.ok.Store(0)
	u.stats.rateLimited.Store(0)
	u.stats.unauthorized.Store(0)
	u.stats.list.Store(0)
	clear(u.stats.byConversation)
}

// admit answers 401 without an auth header and 429 beyond the quota, as
// SmartAssist does, and reports whether the request may go on.
func (u *upstream) admit(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("auth") == "" {
		u.stats.unauthorized.Add(1)
		writeJSON(w, http.StatusUnauthorized, `{"errors":[{"msg":"auth header missing","code":401}]}`)
		return false
	}
	if u.limit == nil {
		return true
	}
	if ok, wait := u.limit.admit(r.Header.Get("accountId"), u.opts.now()); !ok {
		u.stats.rateLimited.Add(1)
		w.Header().Set("Retry-After", retryAfterSeconds(wait))
		writeJSON(w, http.StatusTooManyRequests, rateLimitBody)
		return false
	}
	return true
}

func writeJSON[B string | []byte](w http.ResponseWriter, status int, body B) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func (u *upstream) getConversation(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("conversationId")
	u.stats.requests.Add(1)
	u.stats.mu.Lock()
	u.stats.byConversation[id]++
	u.stats.mu.Unlock()
	if !u.admit(w, r) {
		return
	}
	hold := u.opts.delay
	if u.opts.slowPrefix != "" && strings.HasPrefix(id, u.opts.slowPrefix) {
		hold = u.opts.slowDelay
	}
	if hold > 0 {
		t := time.NewTimer(hold)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	writeJSON(w, http.StatusOK, u.conversation(id))
	u.stats.ok.Add(1)
}

// conversation is the answer for id: the sample, with the id echoed and a
// live conversation's state where the options ask for it.
func (u *upstream) conversation(id string) []byte {
	live := u.opts.livePrefix != "" && strings.HasPrefix(id, u.opts.livePrefix)
	if !live && !u.opts.echoID {
		return u.raw // benchmarks: no copy
	}
	pairs := []string{sampleID, jsonKV("_id", id)}
	if live {
		status, updated := u.liveState(id)
		pairs = append(pairs, sampleStatus, jsonKV("status", status), sampleUpdated, jsonKV("updatedAt", updated))
	}
	return []byte(strings.NewReplacer(pairs...).Replace(u.sample))
}

// liveState is a live conversation's status and updatedAt now: ACTIVE with
// updatedAt on the last multiple of livePeriod since its first request, then
// CLOSED for good at liveCloseAfter.
func (u *upstream) liveState(id string) (status, updatedAt string) {
	now := u.opts.now()
	u.liveMu.Lock()
	start, ok := u.liveStart[id]
	if !ok {
		start = now
		u.liveStart[id] = now
	}
	u.liveMu.Unlock()
	const layout = "2006-01-02T15:04:05.000Z"
	elapsed := now.Sub(start)
	if elapsed >= u.opts.liveCloseAfter {
		return "CLOSED", start.Add(u.opts.liveCloseAfter).UTC().Format(layout)
	}
	return "ACTIVE", start.Add(elapsed.Truncate(u.opts.livePeriod)).UTC().Format(layout)
}

// listConversations answers the list endpoint from the fixed list: filters
// status (repeated, or comma-separated), source and language, then skip and
// limit (default 10, at most 100; SmartAssist documents no default).
func (u *upstream) listConversations(w http.ResponseWriter, r *http.Request) {
	u.stats.requests.Add(1)
	u.stats.list.Add(1)
	if !u.admit(w, r) {
		return
	}
	q := r.URL.Query()
	skip, err1 := atoiOr(q.Get("skip"), 0)
	limit, err2 := atoiOr(q.Get("limit"), 10)
	if err1 != nil || err2 != nil || skip < 0 || limit < 0 {
		writeJSON(w, http.StatusBadRequest, `{"errors":[{"msg":"skip and limit must be non-negative integers","code":"400"}]}`)
		return
	}
	if limit == 0 {
		limit = 10
	}
	limit = min(limit, 100)
	var statuses []string
	for _, s := range q["status"] {
		statuses = append(statuses, strings.Split(s, ",")...)
	}
	var match []json.RawMessage
	for _, it := range u.list {
		if (len(statuses) == 0 || slices.Contains(statuses, it.status)) &&
			(q.Get("source") == "" || q.Get("source") == it.source) &&
			(q.Get("language") == "" || q.Get("language") == it.language) {
			match = append(match, it.body)
		}
	}
	body, err := json.Marshal(demo.NewListPage(match, skip, limit))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, `{"errors":[{"msg":"internal error","code":"500"}]}`)
		return
	}
	writeJSON(w, http.StatusOK, body)
	u.stats.ok.Add(1)
}

func atoiOr(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
}
