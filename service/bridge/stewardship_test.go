package bridge_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/cache"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/quota"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
	"github.com/smartassist-bridge/smartassist-bridge/service/telemetry"
)

// stewardConfig is what stewardBridge builds besides the defaults of
// startBridgeFor.
type stewardConfig struct {
	cache    *cache.Config // nil: no cache at all (every read goes upstream)
	rate     quota.Rate    // zero: no quota guard
	hooks    quota.Hooks
	upstream func(*smartassist.Config)
	service  func(*service.Options)
	options  func(*bridgeConfig)
}

// stewardBridge starts a bridge lending its static token to callers, in
// front of fake, with the cache and quota guard sc asks for.
func stewardBridge(t *testing.T, fake *smartassisttest.Server, sc stewardConfig) *runningBridge {
	t.Helper()
	var c *cache.Cache
	if sc.cache != nil {
		cfg := *sc.cache
		cfg.Logger = slog.New(slog.DiscardHandler)
		var err error
		if c, err = cache.New(cfg); err != nil {
			t.Fatalf("cache.New: %v", err)
		}
		t.Cleanup(c.Close)
	}
	var guard *quota.Guard
	if !sc.rate.Disabled() {
		var err error
		guard, err = quota.New(quota.Config{Rate: sc.rate, Hooks: sc.hooks, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("quota.New: %v", err)
		}
	}
	return startBridgeFor(t, fake, func(bc *bridgeConfig) {
		bc.upstream = func(cfg *smartassist.Config) {
			if guard != nil {
				cfg.Budget = guard
			}
			if sc.upstream != nil {
				sc.upstream(cfg)
			}
		}
		if c != nil {
			bc.options.Service.Cache = c
		}
		if sc.service != nil {
			sc.service(&bc.options.Service)
		}
		if sc.options != nil {
			sc.options(bc)
		}
	})
}

// requestFor asks for conversation id of the sample stream.
func requestFor(id string) *smartassistv1.GetConversationRequest {
	return &smartassistv1.GetConversationRequest{StreamId: demo.StreamID, ConversationId: id}
}

// openConversation is the sample conversation, still open.
func openConversation(t *testing.T) []byte {
	t.Helper()
	const closed = `    "status": "CLOSED"`
	if bytes.Count(demo.Conversation, []byte(closed)) != 1 {
		t.Fatalf("the sample has no single top-level %q", closed)
	}
	return bytes.Replace(demo.Conversation, []byte(closed), []byte(`    "status": "OPEN"`), 1)
}

// checkCode fails the test unless err carries code.
func checkCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if got := connect.CodeOf(err); err == nil || got != code {
		t.Fatalf("got %v (%v), want %v", got, err, code)
	}
}

// checkHits fails the test unless the fake saw want requests.
func checkHits(t *testing.T, fake *smartassisttest.Server, want int) {
	t.Helper()
	if got := fake.Hits(); got != want {
		t.Errorf("SmartAssist saw %d requests, want %d", got, want)
	}
}

// TestCoalescingThousandCallers: 1,000 concurrent identical reads with the
// bridge's own credentials cost SmartAssist one request, and every caller
// gets the conversation.
func TestCoalescingThousandCallers(t *testing.T) {
	t.Parallel()
	const callers = 1000
	fake := newFake(t)
	// The one upstream answer is slow, so the callers overlap it.
	fake.Script(demo.ConversationID, smartassisttest.Response{Delay: time.Second, Body: demo.Conversation})
	var coalesced, hits atomic.Int64
	b := stewardBridge(t, fake, stewardConfig{cache: &cache.Config{Hooks: cache.Hooks{
		Coalesced: func() { coalesced.Add(1) },
		Hit:       func(cache.Tier) { hits.Add(1) },
	}}})
	client := newClient(t, b.URL, true)

	want := wantSample(t).GetConversation().GetId()
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			res, err := client.GetConversation(t.Context(), sampleRequest())
			switch {
			case err != nil:
				errs <- err
			case res.GetConversation().GetId() != want:
				errs <- errors.New("answer for conversation " + res.GetConversation().GetId())
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 3 {
			t.Errorf("GetConversation: %v", err)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d calls failed", failed, callers)
	}
	checkHits(t, fake, 1)
	t.Logf("%d callers joined the one fetch, %d were served from the cache", coalesced.Load(), hits.Load())
}

// TestPerCallerCancellation: a caller whose deadline is short ends with
// DEADLINE_EXCEEDED while another caller of the same conversation still
// gets it, from one upstream request, whichever of them came first.
func TestPerCallerCancellation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		patientFirst bool
	}{
		{name: "patient caller first", patientFirst: true},
		// The shared fetch must outlive the first caller's deadline: the
		// issue asks that each caller keep its own.
		{name: "impatient caller first, the fetch outlives its deadline", patientFirst: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.Script(demo.ConversationID, smartassisttest.Response{Delay: 1500 * time.Millisecond, Body: demo.Conversation})
			b := stewardBridge(t, fake, stewardConfig{cache: &cache.Config{}})
			client := newClient(t, b.URL, true)

			impatient := func() error {
				ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
				defer cancel()
				_, err := client.GetConversation(ctx, sampleRequest())
				return err
			}
			type result struct {
				res *smartassistv1.GetConversationResponse
				err error
			}
			patient := make(chan result, 1)
			startPatient := func() {
				go func() {
					res, err := client.GetConversation(t.Context(), sampleRequest())
					patient <- result{res, err}
				}()
			}
			var impatientErr error
			if tt.patientFirst {
				startPatient()
				rpctest.Eventually(t, "the fetch reaches SmartAssist", func() bool { return fake.Hits() == 1 })
				impatientErr = impatient()
			} else {
				done := make(chan error, 1)
				go func() { done <- impatient() }()
				rpctest.Eventually(t, "the fetch reaches SmartAssist", func() bool { return fake.Hits() == 1 })
				startPatient()
				impatientErr = <-done
			}
			checkCode(t, impatientErr, connect.CodeDeadlineExceeded)
			got := <-patient
			checkSample(t, got.res, got.err)
			checkHits(t, fake, 1)
		})
	}
}

// hs256 signs claims for subject with key, expiring at exp.
func hs256(t *testing.T, key string, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"appId": "cs-isolation",
		"sub":   "user-1",
		"iat":   time.Now().Add(-2 * time.Hour).Unix(),
		"exp":   exp.Unix(),
	}).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestCredentialIsolation: an answer fetched with a caller's own token is
// served from the cache to that token only; a forged token with the same
// claims, and an expired one, go to SmartAssist and get its refusal.
func TestCredentialIsolation(t *testing.T) {
	t.Parallel()
	exp := time.Now().Add(time.Hour)
	good := hs256(t, "key-of-the-real-issuer", exp)
	forged := hs256(t, "key-of-a-forger", exp)
	expired := hs256(t, "key-of-the-real-issuer", time.Now().Add(-time.Minute))
	fake := newFake(t, smartassisttest.WithPassThroughToken(good))
	b := stewardBridge(t, fake, stewardConfig{cache: &cache.Config{}})
	client := newClient(t, b.URL, false)

	// The steps run in order: each one's upstream count includes the
	// earlier ones'.
	steps := []struct {
		name     string
		headers  []string
		wantCode connect.Code // 0: the sample
		wantHits int
	}{
		{"valid token fetches", []string{"auth", good}, 0, 1},
		{"valid token is served from the cache", []string{"auth", good}, 0, 1},
		{"valid token as bearer is served from the cache", []string{"authorization", "Bearer " + good}, 0, 1},
		{"forged token goes upstream", []string{"auth", forged}, connect.CodeUnauthenticated, 2},
		{"forged token goes upstream again", []string{"auth", forged}, connect.CodeUnauthenticated, 3},
		{"forged bearer token goes upstream", []string{"authorization", "Bearer " + forged}, connect.CodeUnauthenticated, 4},
		{"expired token goes upstream", []string{"auth", expired}, connect.CodeUnauthenticated, 5},
		{"expired token goes upstream again", []string{"auth", expired}, connect.CodeUnauthenticated, 6},
		// The fake accepts only the caller's token, so a read with the
		// bridge's own is refused upstream rather than served the
		// caller's cached entry.
		{"bridge's own credentials go upstream", nil, connect.CodeUnauthenticated, 7},
	}
	for _, s := range steps {
		res, err := client.GetConversation(withHeaders(t.Context(), s.headers...), sampleRequest())
		if s.wantCode == 0 {
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			checkSample(t, res, err)
		} else if connect.CodeOf(err) != s.wantCode {
			t.Fatalf("%s: got %v (%v), want %v", s.name, connect.CodeOf(err), err, s.wantCode)
		}
		if got := fake.Hits(); got != s.wantHits {
			t.Fatalf("%s: SmartAssist saw %d requests, want %d", s.name, got, s.wantHits)
		}
	}
}

// TestTTLByState: a closed conversation stays cached; an open one is
// fetched again once its short live TTL has passed.
func TestTTLByState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       func(*testing.T) []byte
		wantStatus string
		wantHits   int // after a call, a pause of 300ms, and a call
	}{
		{"closed stays cached", func(*testing.T) []byte { return demo.Conversation }, "CLOSED", 1},
		{"open is fetched again", openConversation, "OPEN", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := smartassisttest.NewServer(t, smartassisttest.WithConversation(demo.StreamID, demo.ConversationID, tt.body(t)))
			b := stewardBridge(t, fake, stewardConfig{cache: &cache.Config{LiveTTL: 200 * time.Millisecond, ClosedTTL: time.Minute}})
			client := newClient(t, b.URL, false)
			for i := range 2 {
				res, err := client.GetConversation(t.Context(), sampleRequest())
				if err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
				if got := res.GetConversation().GetStatus(); !strings.EqualFold(got, tt.wantStatus) {
					t.Fatalf("status %q, want %q", got, tt.wantStatus)
				}
				if i == 0 {
					// Both are cached at first.
					if _, err := client.GetConversation(t.Context(), sampleRequest()); err != nil {
						t.Fatal(err)
					}
					checkHits(t, fake, 1)
					time.Sleep(300 * time.Millisecond)
				}
			}
			checkHits(t, fake, tt.wantHits)
		})
	}
}

// connectGet sends a Connect GET for the sample with the request headers
// pairs, and returns the answer with its body read.
func connectGet(t *testing.T, hc *http.Client, baseURL string, pairs ...string) (*http.Response, []byte) {
	t.Helper()
	msg := `{"streamId":"` + demo.StreamID + `","conversationId":"` + demo.ConversationID + `"}`
	q := url.Values{"encoding": {"json"}, "message": {msg}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, baseURL+getConversationMethod+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		req.Header.Set(pairs[i], pairs[i+1])
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// TestConnectGetRevalidation: a Connect GET is cacheable by the caller
// (ETag, private max-age, Vary on the credentials) and revalidates with
// If-None-Match.
func TestConnectGetRevalidation(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	b := stewardBridge(t, fake, stewardConfig{cache: &cache.Config{}})
	hc := newHTTPClient(t, false)

	res, body := connectGet(t, hc, b.URL)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	m := regexp.MustCompile(`^private, max-age=(\d+)$`).FindStringSubmatch(res.Header.Get("Cache-Control"))
	if m == nil {
		t.Fatalf("Cache-Control %q, want private, max-age=N", res.Header.Get("Cache-Control"))
	}
	if n, _ := strconv.Atoi(m[1]); n <= 0 {
		t.Errorf("Cache-Control %q: max-age not positive", res.Header.Get("Cache-Control"))
	}
	vary := map[string]bool{}
	for _, v := range res.Header.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			vary[http.CanonicalHeaderKey(strings.TrimSpace(f))] = true
		}
	}
	if !vary["Auth"] || !vary["Authorization"] {
		t.Errorf("Vary %q, want Auth and Authorization", res.Header.Values("Vary"))
	}

	tests := []struct {
		name        string
		ifNoneMatch string
		want        int
	}{
		{"same ETag", etag, http.StatusNotModified},
		{"one of several ETags", `"other", ` + etag, http.StatusNotModified},
		{"another ETag", `"0000not-the-etag"`, http.StatusOK},
	}
	for _, tt := range tests {
		res, body := connectGet(t, hc, b.URL, "If-None-Match", tt.ifNoneMatch)
		if res.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, res.StatusCode, tt.want)
		}
		if tt.want == http.StatusNotModified && len(body) != 0 {
			t.Errorf("%s: 304 with a body of %d bytes", tt.name, len(body))
		}
		if tt.want == http.StatusOK && !bytes.Contains(body, []byte(demo.ConversationID)) {
			t.Errorf("%s: 200 without the conversation: %.200s", tt.name, body)
		}
	}
	checkHits(t, fake, 1)
}

// checkQuotaRefusal fails the test unless err is the bridge's quota
// refusal, and returns its RetryInfo delay.
func checkQuotaRefusal(t *testing.T, err error) time.Duration {
	t.Helper()
	checkCode(t, err, connect.CodeResourceExhausted)
	details := connectDetails(t, err)
	checkErrorInfo(t, details, "QUOTA_EXHAUSTED", nil)
	retry, ok := findDetail[*errdetails.RetryInfo](details)
	if !ok {
		t.Fatalf("no google.rpc.RetryInfo in %v", details)
	}
	return retry.GetRetryDelay().AsDuration()
}

// TestQuotaRefusesAtOnce: a call that cannot get a slot of the account's
// budget before its deadline fails at once, says how long to wait, and
// never reaches SmartAssist.
func TestQuotaRefusesAtOnce(t *testing.T) {
	t.Parallel()
	fake := newFake(t, smartassisttest.WithConversation(demo.StreamID, "c-second", demo.Conversation))
	b := stewardBridge(t, fake, stewardConfig{rate: quota.Rate{N: 1, Per: time.Minute}})
	client := newClient(t, b.URL, false)

	getSample(t, client)
	// The next slot is a minute away, past the deadline: a guard that
	// waited would use the whole 20s; "at once" is far less, however
	// slowly the test runs.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := client.GetConversation(ctx, requestFor("c-second"))
	elapsed := time.Since(start)
	delay := checkQuotaRefusal(t, err)
	if elapsed > 10*time.Second {
		t.Errorf("refused after %v, want at once (the deadline was 20s)", elapsed)
	}
	if delay < 55*time.Second || delay > 65*time.Second {
		t.Errorf("RetryInfo delay %v, want about a minute", delay)
	}
	checkHits(t, fake, 1)
}

// TestQuotaWaitsForSlot: a call whose deadline leaves time for the next
// slot waits for it and succeeds.
func TestQuotaWaitsForSlot(t *testing.T) {
	t.Parallel()
	fake := newFake(t, smartassisttest.WithConversation(demo.StreamID, "c-second", demo.Conversation))
	b := stewardBridge(t, fake, stewardConfig{rate: quota.Rate{N: 1, Per: time.Second}})
	client := newClient(t, b.URL, false)

	getSample(t, client)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := client.GetConversation(ctx, requestFor("c-second")); err != nil {
		t.Fatalf("second call: %v", err)
	}
	// A lower bound only: the call must have waited for the window.
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond {
		t.Errorf("second call took %v, want a wait of about the 1s window", elapsed)
	}
	checkHits(t, fake, 2)
}

// TestAccountBackoffAfter429: after SmartAssist answers 429 for one
// conversation, the whole account backs off until Retry-After, without
// holding other accounts.
func TestAccountBackoffAfter429(t *testing.T) {
	t.Parallel()
	fake := newFake(t, smartassisttest.WithConversation(demo.StreamID, "c-y", demo.Conversation))
	fake.Script(demo.ConversationID, smartassisttest.Response{
		Status: http.StatusTooManyRequests,
		// Far longer than the calls' 1s deadlines below, however slowly
		// the test runs: each must be refused at once, not wait.
		Header: http.Header{"Retry-After": {"30"}},
		Body:   []byte(`{"errors":[{"msg":"You've exceeded the per-minute rate limit","code":"429"}]}`),
	})
	b := stewardBridge(t, fake, stewardConfig{
		rate:     quota.Rate{N: 60, Per: time.Minute},
		upstream: func(c *smartassist.Config) { c.MaxAttempts = 1 },
		service: func(o *service.Options) {
			o.DefaultAccountID = "acc-1"
			o.AllowedAccounts = []string{"acc-1", "acc-2"}
		},
	})
	client := newClient(t, b.URL, false)

	if _, err := client.GetConversation(t.Context(), sampleRequest()); err == nil {
		t.Fatal("the call SmartAssist answered 429 succeeded")
	}
	checkHits(t, fake, 1)

	tests := []struct {
		name    string
		account string
		refused bool
		hits    int
	}{
		{"same account, default", "", true, 1},
		{"same account, named", "acc-1", true, 1},
		{"another account", "acc-2", false, 2},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		req := requestFor("c-y")
		req.AccountId = tt.account
		_, err := client.GetConversation(ctx, req)
		cancel()
		if tt.refused {
			if delay := checkQuotaRefusal(t, err); delay <= 0 || delay > 30*time.Second {
				t.Errorf("%s: RetryInfo delay %v, want within Retry-After (30s)", tt.name, delay)
			}
		} else if err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if got := fake.Hits(); got != tt.hits {
			t.Errorf("%s: SmartAssist saw %d requests, want %d", tt.name, got, tt.hits)
		}
	}
	if got := fake.TooManyRequests(); got != 1 {
		t.Errorf("SmartAssist answered 429 %d times, want 1", got)
	}
}

// TestStewardshipMetrics: a hit, a miss and a quota refusal show in the
// metrics, and no id or account appears anywhere in the scrape.
func TestStewardshipMetrics(t *testing.T) {
	t.Parallel()
	const (
		account = "acc-metrics-7f3a9c"
		second  = "c-metrics-second-41d2"
	)
	fake := newFake(t, smartassisttest.WithConversation(demo.StreamID, second, demo.Conversation))
	m := telemetry.NewMetrics()
	s := m.Stewardship
	b := stewardBridge(t, fake, stewardConfig{
		// Wired as cmd/smartassist-bridge wires them.
		cache: &cache.Config{Hooks: cache.Hooks{
			Hit:       func(cache.Tier) { s.CacheLookups.WithLabelValues("hit").Inc() },
			Miss:      func() { s.CacheLookups.WithLabelValues("miss").Inc() },
			Coalesced: s.CoalescedWaiters.Inc,
		}},
		rate:    quota.Rate{N: 1, Per: time.Minute},
		hooks:   quota.Hooks{Wait: s.ObserveQuotaWait, Refused: s.QuotaRefusals.Inc},
		service: func(o *service.Options) { o.DefaultAccountID = account },
		options: func(bc *bridgeConfig) { bc.options.Metrics = m },
	})
	client := newClient(t, b.URL, false)

	getSample(t, client) // miss
	getSample(t, client) // hit
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err := client.GetConversation(ctx, requestFor(second)) // miss, refused
	checkQuotaRefusal(t, err)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	scrape := rec.Body.String()

	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^smartassist_bridge_cache_lookups_total\{result="hit"\} [1-9]`),
		regexp.MustCompile(`(?m)^smartassist_bridge_cache_lookups_total\{result="miss"\} [1-9]`),
		regexp.MustCompile(`(?m)^smartassist_bridge_quota_refusals_total [1-9]`),
	} {
		if !want.MatchString(scrape) {
			t.Errorf("the scrape has no line matching %s", want)
		}
	}
	for _, secret := range []string{account, demo.ConversationID, second, demo.StreamID, "static-test-token"} {
		if strings.Contains(scrape, secret) {
			t.Errorf("the scrape contains %q", secret)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", scrape)
	}
}

// getSample reads the sample through client and fails the test unless it
// is the sample.
func getSample(t *testing.T, client smartassistv1connect.ConversationServiceClient) {
	t.Helper()
	res, err := client.GetConversation(t.Context(), sampleRequest())
	checkSample(t, res, err)
}
