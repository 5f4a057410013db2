package demo_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping/mappingtest"
)

const base = "/agentassist/api/v1/public/"

// clock is a settable time source for NewHandler.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(d time.Duration, start time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = start.Add(d)
}

var demoStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newHandler() (http.Handler, *clock) {
	c := &clock{t: demoStart}
	return demo.NewHandler(c.now), c
}

func fetch(t *testing.T, h http.Handler, path string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("auth", "demo")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

type answer struct {
	Results      []map[string]any `json:"results"`
	Skip         int              `json:"skip"`
	Limit        int              `json:"limit"`
	HasMore      bool             `json:"hasMore"`
	TotalPages   int              `json:"totalPages"`
	TotalResults int              `json:"totalResults"`
}

func list(t *testing.T, h http.Handler, query string) answer {
	t.Helper()
	code, body := fetch(t, h, base+demo.StreamID+"/conversations?"+query)
	if code != http.StatusOK {
		t.Fatalf("list %q: status %d: %s", query, code, body)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("list %q: %v", query, err)
	}
	return a
}

func ids(results []map[string]any) []string {
	var out []string
	for _, r := range results {
		out = append(out, r["_id"].(string))
	}
	return out
}

// TestListVariety checks the whole list: its size, that every status,
// voice and chat channels and several languages occur, and that the voice
// conversations carry the voice keys.
func TestListVariety(t *testing.T) {
	h, _ := newHandler()
	all := list(t, h, "limit=100")
	if all.TotalResults != demo.ConversationCount || len(all.Results) != demo.ConversationCount || all.HasMore {
		t.Fatalf("got %d of %d results, hasMore %v; want %d, all", len(all.Results), all.TotalResults, all.HasMore, demo.ConversationCount)
	}
	seen := map[string]map[string]bool{"status": {}, "source": {}, "language": {}}
	var voice, notes, tones, sets int
	for _, r := range all.Results {
		for k := range seen {
			seen[k][r[k].(string)] = true
		}
		if r["phoneNumber"] != nil {
			voice++
			ui := r["userInfo"].(map[string]any)
			if r["botSIPURI"] == nil || r["CallIDData"] == nil || r["conversationId"] == nil || ui["caller"] != r["phoneNumber"] || ui["callee"] == nil {
				t.Errorf("voice conversation %s lacks voice keys", r["_id"])
			}
		}
		if n, _ := r["notes"].([]any); len(n) > 0 {
			notes++
		}
		if r["sentimentTone"] != nil {
			tones++
		}
		if d, _ := r["dispositions"].(map[string]any); d != nil && d["dispositionSets"] != nil {
			sets++
		}
	}
	for _, s := range demo.Statuses {
		if !seen["status"][s] {
			t.Errorf("no conversation is %s", s)
		}
	}
	if !seen["source"]["rtm"] || !seen["source"]["audiocodes"] || len(seen["source"]) < 4 {
		t.Errorf("sources %v: want voice and chat, at least 4", seen["source"])
	}
	if len(seen["language"]) < 4 {
		t.Errorf("languages %v: want at least 4", seen["language"])
	}
	if voice == 0 || voice == len(all.Results) || notes == 0 || tones == 0 || sets == 0 {
		t.Errorf("voice %d, with notes %d, with sentiment %d, with disposition sets %d: want some of each", voice, notes, tones, sets)
	}
	if all.Results[0]["_id"] != demo.LiveConversationID {
		t.Errorf("first result %v, want the live conversation (the newest)", all.Results[0]["_id"])
	}
}

// TestListFilters compares each filtered answer with the full list
// filtered here.
func TestListFilters(t *testing.T) {
	h, _ := newHandler()
	all := list(t, h, "limit=100").Results
	keep := func(pred func(map[string]any) bool) []string {
		var out []string
		for _, r := range all {
			if pred(r) {
				out = append(out, r["_id"].(string))
			}
		}
		return out
	}
	is := func(key string, vals ...string) func(map[string]any) bool {
		return func(r map[string]any) bool { return slices.Contains(vals, r[key].(string)) }
	}
	tests := []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"one status", url.Values{"status": {"CLOSED"}}, keep(is("status", "CLOSED"))},
		{"repeated status", url.Values{"status": {"OPEN", "IDLE"}}, keep(is("status", "OPEN", "IDLE"))},
		{"comma-separated status", url.Values{"status": {"OPEN,IDLE"}}, keep(is("status", "OPEN", "IDLE"))},
		{"source", url.Values{"source": {"audiocodes"}}, keep(is("source", "audiocodes"))},
		{"language", url.Values{"language": {"de"}}, keep(is("language", "de"))},
		{"all filters", url.Values{"status": {"CLOSED", "TERMINATED"}, "source": {"rtm"}, "language": {"en"}},
			keep(func(r map[string]any) bool {
				return is("status", "CLOSED", "TERMINATED")(r) && is("source", "rtm")(r) && is("language", "en")(r)
			})},
		{"no match", url.Values{"source": {"fax"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.query.Set("limit", "100")
			got := list(t, h, tt.query.Encode())
			if diff := cmp.Diff(tt.want, ids(got.Results)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if got.TotalResults != len(tt.want) {
				t.Errorf("totalResults %d, want %d", got.TotalResults, len(tt.want))
			}
		})
	}
	if n := len(keep(is("status", "CLOSED"))); n == 0 || n == len(all) {
		t.Fatalf("CLOSED matches %d of %d: the filter cases prove nothing", n, len(all))
	}
}

func TestListPaging(t *testing.T) {
	h, _ := newHandler()
	want := ids(list(t, h, "limit=100").Results)
	var got []string
	for skip := 0; ; skip += 7 {
		page := list(t, h, url.Values{"skip": {itoa(skip)}, "limit": {"7"}}.Encode())
		if page.Skip != skip || page.Limit != 7 || page.TotalPages != 5 || page.TotalResults != demo.ConversationCount {
			t.Fatalf("skip %d: paging keys %+v", skip, page)
		}
		got = append(got, ids(page.Results)...)
		if !page.HasMore {
			if len(page.Results) != demo.ConversationCount%7 {
				t.Errorf("last page has %d results, want %d", len(page.Results), demo.ConversationCount%7)
			}
			break
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pages joined (-want +got):\n%s", diff)
	}
	if a := list(t, h, ""); len(a.Results) != demo.DefaultListLimit || a.Limit != demo.DefaultListLimit || !a.HasMore {
		t.Errorf("default page: %d results, limit %d, hasMore %v", len(a.Results), a.Limit, a.HasMore)
	}
	if a := list(t, h, "skip=30&limit=5"); len(a.Results) != 0 || a.HasMore || a.TotalResults != demo.ConversationCount {
		t.Errorf("past the end: %+v", a)
	}
}

func TestListFields(t *testing.T) {
	h, _ := newHandler()
	a := list(t, h, "limit=100&fields=status,userInfo.caller,sentimentTone")
	var callers int
	for _, r := range a.Results {
		for k, v := range r {
			switch k {
			case "_id", "status", "sentimentTone":
			case "userInfo":
				if ui := v.(map[string]any); len(ui) != 1 || ui["caller"] == nil {
					t.Errorf("%s: userInfo %v, want only caller", r["_id"], ui)
				}
				callers++
			default:
				t.Errorf("%s: key %q not asked for", r["_id"], k)
			}
		}
		if r["status"] == nil {
			t.Errorf("%s: no status", r["_id"])
		}
	}
	if callers == 0 {
		t.Error("no result kept userInfo.caller")
	}
}

func TestListErrors(t *testing.T) {
	h, _ := newHandler()
	tests := []struct {
		name, path string
		auth       bool
		want       int
	}{
		{"no auth", base + demo.StreamID + "/conversations", false, http.StatusUnauthorized},
		{"other stream", base + "st-other/conversations", true, http.StatusNotFound},
		{"unknown status", base + demo.StreamID + "/conversations?status=DONE", true, http.StatusBadRequest},
		{"negative skip", base + demo.StreamID + "/conversations?skip=-1", true, http.StatusBadRequest},
		{"bad limit", base + demo.StreamID + "/conversations?limit=ten", true, http.StatusBadRequest},
		{"get without auth", base + demo.StreamID + "/conversations/" + demo.LiveConversationID, false, http.StatusUnauthorized},
		{"get unknown", base + demo.StreamID + "/conversations/c-unknown", true, http.StatusNotFound},
		{"get live in other stream", base + "st-other/conversations/" + demo.LiveConversationID, true, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.auth {
				req.Header.Set("auth", "demo")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			var body struct{ Errors []struct{ Msg, Code string } }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Code != itoa(tt.want) {
				t.Errorf("body %s is not a SmartAssist error with code %d", rec.Body, tt.want)
			}
		})
	}
}

// TestGetListed fetches every listed conversation by id: the GET-one
// answer equals the list item, the documented sample is byte for byte, and
// every answer maps into the proto model without loss.
func TestGetListed(t *testing.T) {
	h, _ := newHandler()
	for _, item := range list(t, h, "limit=100").Results {
		id := item["_id"].(string)
		code, body := fetch(t, h, base+demo.StreamID+"/conversations/"+id)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d", id, code)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(item, got); diff != "" {
			t.Errorf("%s: GET differs from the list item (-list +get):\n%s", id, diff)
		}
		if id == demo.ConversationID && string(body) != string(demo.Conversation) {
			t.Errorf("the documented sample is not served byte for byte")
		}
		c, err := mapping.Conversation(body)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		mappingtest.AssertLossless(t, body, c)
	}
}

// TestLiveConversation walks the live conversation through a cycle and a
// half on an injected clock.
func TestLiveConversation(t *testing.T) {
	h, c := newHandler()
	get := func(at time.Duration) map[string]any {
		c.set(at, demoStart)
		code, body := fetch(t, h, base+demo.StreamID+"/conversations/"+demo.LiveConversationID)
		if code != http.StatusOK {
			t.Fatalf("at %v: status %d", at, code)
		}
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if _, err := mapping.Conversation(body); err != nil {
			t.Fatalf("at %v: %v", at, err)
		}
		return doc
	}
	var statuses []string
	var changes int
	var prev map[string]any
	for at := time.Duration(0); at < demo.LiveCycle; at += time.Second {
		doc := get(at)
		if s := doc["status"].(string); len(statuses) == 0 || statuses[len(statuses)-1] != s {
			statuses = append(statuses, s)
		}
		if prev != nil && !cmp.Equal(prev, doc) {
			changes++
			if at%demo.LiveStep != 0 {
				t.Errorf("changed at %v, between steps", at)
			}
			if at > demo.LiveClosesAfter {
				t.Errorf("changed at %v, after closing", at)
			}
			if doc["updatedAt"].(string) <= prev["updatedAt"].(string) {
				t.Errorf("at %v: updatedAt %v did not advance from %v", at, doc["updatedAt"], prev["updatedAt"])
			}
		}
		prev = doc
	}
	if want := []string{"OPEN", "ACTIVE", "IDLE", "ACTIVE", "CLOSED"}; !slices.Equal(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
	if want := int(demo.LiveClosesAfter / demo.LiveStep); changes != want {
		t.Errorf("%d changes in a cycle, want %d", changes, want)
	}
	closed := get(demo.LiveClosesAfter)
	if closed["endTime"] == nil || len(closed["notes"].([]any)) == 0 || len(closed["transferDetails"].([]any)) != 1 || len(closed["participants"].([]any)) != 2 {
		t.Errorf("closed state lacks its end time, notes, transfer or participants: %v", closed)
	}
	first, again := get(0), get(demo.LiveCycle)
	if again["status"] != "OPEN" || again["startTime"].(string) <= first["startTime"].(string) {
		t.Errorf("next cycle: status %v, startTime %v after %v; want OPEN, later", again["status"], again["startTime"], first["startTime"])
	}

	// The list shows the live conversation's current state.
	for _, tt := range []struct {
		at     time.Duration
		status string
	}{{10 * time.Second, "ACTIVE"}, {demo.LiveClosesAfter + time.Second, "CLOSED"}} {
		c.set(tt.at, demoStart)
		got := ids(list(t, h, "limit=100&status="+tt.status).Results)
		if !slices.Contains(got, demo.LiveConversationID) {
			t.Errorf("at %v the %s list lacks the live conversation", tt.at, tt.status)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
