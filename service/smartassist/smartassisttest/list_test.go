package smartassisttest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

const listPath = "/agentassist/api/v1/public/st-1/conversations"

// page is the list answer as the tests read it.
type page struct {
	Results      []map[string]any `json:"results"`
	Skip         int              `json:"skip"`
	Limit        int              `json:"limit"`
	HasMore      bool             `json:"hasMore"`
	TotalPages   int              `json:"totalPages"`
	TotalResults int              `json:"totalResults"`
}

func ids(p page) []string {
	out := []string{}
	for _, r := range p.Results {
		out = append(out, fmt.Sprint(r["_id"]))
	}
	return out
}

func TestServerList(t *testing.T) {
	t.Parallel()
	conv := func(id, status, source, language string) smartassisttest.Option {
		return smartassisttest.WithConversation("st-1", id, []byte(fmt.Sprintf(
			`{"_id":%q,"status":%q,"source":%q,"language":%q,"userInfo":{"caller":"+1","callee":"st-1"}}`, id, status, source, language)))
	}
	srv := smartassisttest.NewServer(t,
		conv("c-0", "CLOSED", "rtm", "en"),
		conv("c-1", "OPEN", "audiocodes", "en"),
		conv("c-2", "CLOSED", "rtm", "de"),
		conv("c-3", "ACTIVE", "rtm", "en"),
		smartassisttest.WithConversation("st-1", "c-bad", []byte("not json")),
		smartassisttest.WithConversation("st-2", "c-9", []byte(`{"_id":"c-9"}`)),
	)
	c := httpClient(t)
	auth := http.Header{"auth": {"any"}}
	tests := []struct {
		query      string
		wantStatus int
		want       page // Results compared by id only
		wantIDs    []string
	}{
		{query: "", wantStatus: 200, want: page{Limit: 10, TotalPages: 1, TotalResults: 4}, wantIDs: []string{"c-0", "c-1", "c-2", "c-3"}},
		{query: "limit=3", wantStatus: 200, want: page{Limit: 3, HasMore: true, TotalPages: 2, TotalResults: 4}, wantIDs: []string{"c-0", "c-1", "c-2"}},
		{query: "skip=3&limit=3", wantStatus: 200, want: page{Skip: 3, Limit: 3, TotalPages: 2, TotalResults: 4}, wantIDs: []string{"c-3"}},
		{query: "skip=8", wantStatus: 200, want: page{Skip: 8, Limit: 10, TotalPages: 1, TotalResults: 4}, wantIDs: []string{}},
		{query: "status=CLOSED", wantStatus: 200, want: page{Limit: 10, TotalPages: 1, TotalResults: 2}, wantIDs: []string{"c-0", "c-2"}},
		{query: "status=OPEN&status=ACTIVE", wantStatus: 200, want: page{Limit: 10, TotalPages: 1, TotalResults: 2}, wantIDs: []string{"c-1", "c-3"}},
		{query: "status=OPEN,ACTIVE", wantStatus: 200, want: page{Limit: 10, TotalPages: 1, TotalResults: 2}, wantIDs: []string{"c-1", "c-3"}},
		{query: "source=rtm&language=en", wantStatus: 200, want: page{Limit: 10, TotalPages: 1, TotalResults: 2}, wantIDs: []string{"c-0", "c-3"}},
		{query: "skip=-1", wantStatus: 400},
		{query: "limit=0", wantStatus: 400},
		{query: "limit=ten", wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			status, body := get(t, c, http.MethodGet, srv.URL+listPath+"?"+tt.query, auth)
			if status != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", status, body, tt.wantStatus)
			}
			if status != 200 {
				return
			}
			var got page
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("answer %s: %v", body, err)
			}
			if diff := cmp.Diff(tt.wantIDs, ids(got)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			got.Results = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("page (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServerListFields(t *testing.T) {
	t.Parallel()
	srv := smartassisttest.NewServer(t, smartassisttest.WithConversation("st-1", "c-1",
		[]byte(`{"_id":"c-1","status":"OPEN","priority":5,"userInfo":{"caller":"+1","callee":"st-1"}}`)))
	_, body := get(t, httpClient(t), http.MethodGet, srv.URL+listPath+"?fields=status,userInfo.caller", http.Header{"auth": {"any"}})
	var got struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Results) != 1 {
		t.Fatalf("answer %s: %v", body, err)
	}
	want := `{"_id":"c-1","status":"OPEN","userInfo":{"caller":"+1"}}`
	if string(got.Results[0]) != want {
		t.Errorf("projected result = %s, want %s", got.Results[0], want)
	}
}

func TestServerSetConversation(t *testing.T) {
	t.Parallel()
	srv := smartassisttest.NewServer(t, smartassisttest.WithConversation("st-1", "c-1", []byte(`{"_id":"c-1","status":"OPEN"}`)))
	c := httpClient(t)
	auth := http.Header{"auth": {"any"}}

	srv.SetConversation("st-1", "c-2", []byte(`{"_id":"c-2","status":"OPEN"}`))
	srv.SetConversation("st-1", "c-1", []byte(`{"_id":"c-1","status":"CLOSED"}`))

	if _, body := get(t, c, http.MethodGet, srv.URL+convPath, auth); body != `{"_id":"c-1","status":"CLOSED"}` {
		t.Errorf("conversation after SetConversation = %s, want the new body", body)
	}
	_, body := get(t, c, http.MethodGet, srv.URL+listPath, auth)
	var got page
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	// A replaced conversation keeps its place; a new one comes last.
	if diff := cmp.Diff([]string{"c-1", "c-2"}, ids(got)); diff != "" {
		t.Errorf("list ids (-want +got):\n%s", diff)
	}
}

func TestServerQuota(t *testing.T) {
	t.Parallel()
	const window = 400 * time.Millisecond
	srv := smartassisttest.NewServer(t,
		smartassisttest.WithQuota(2, window),
		smartassisttest.WithConversation("st-1", "c-1", []byte(`{}`)))
	c := httpClient(t)
	account := func(id string) http.Header { return http.Header{"auth": {"any"}, "accountId": {id}} }

	for i, want := range []int{200, 200, 429} {
		if status, body := get(t, c, http.MethodGet, srv.URL+convPath, account("a")); status != want {
			t.Fatalf("request %d for account a: status %d (%s), want %d", i, status, body, want)
		}
	}
	// The list counts against the same quota; another account has its own.
	if status, _ := get(t, c, http.MethodGet, srv.URL+listPath, account("a")); status != 429 {
		t.Errorf("list for account a: status %d, want 429", status)
	}
	if status, _ := get(t, c, http.MethodGet, srv.URL+convPath, account("b")); status != 200 {
		t.Errorf("account b: status %d, want 200", status)
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+convPath, nil)
	req.Header = account("a")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" ||
		string(body) != `{"errors":[{"msg":"You've exceeded the per-minute rate limit","code":"429"}]}` {
		t.Errorf("refusal = %d, Retry-After %q, %s; want 429, \"1\" (rounded up) and SmartAssist's body",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if n := srv.TooManyRequests(); n != 3 {
		t.Errorf("TooManyRequests() = %d, want 3", n)
	}

	time.Sleep(window)
	if status, _ := get(t, c, http.MethodGet, srv.URL+convPath, account("a")); status != 200 {
		t.Errorf("after the window: status %d, want 200", status)
	}
}

func TestServerRecordsQuery(t *testing.T) {
	t.Parallel()
	srv := smartassisttest.NewServer(t)
	get(t, httpClient(t), http.MethodGet, srv.URL+listPath+"?status=OPEN&status=CLOSED&fields=a%2Cb", http.Header{"auth": {"any"}})
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Path != listPath || reqs[0].Query != "status=OPEN&status=CLOSED&fields=a%2Cb" {
		t.Errorf("recorded = %+v, want the list path and the raw query", reqs)
	}
}

func TestServerCutBody(t *testing.T) {
	t.Parallel()
	srv := smartassisttest.NewServer(t)
	body := []byte(strings.Repeat("x", 100))
	srv.Script("c-1", smartassisttest.Response{CutBody: true, Body: body})
	srv.ScriptList(smartassisttest.Response{CutBody: true, Body: body})
	c := httpClient(t)
	for _, path := range []string{convPath, listPath} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != 100 || len(got) != 50 || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: status %d, Content-Length %d, read %d bytes, %v; want 200, 100, 50, unexpected EOF",
				path, resp.StatusCode, resp.ContentLength, len(got), err)
		}
	}
}
