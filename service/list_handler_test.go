package service_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect/v2"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
)

// listClient serves ListConversations over the real SmartAssist client and
// the demo upstream (30 conversations), recording each upstream query.
func listClient(t *testing.T) (smartassistv1connect.ConversationServiceClient, func() []url.Values) {
	t.Helper()
	var mu sync.Mutex
	var queries []url.Values
	demoHandler := demo.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.Query())
		mu.Unlock()
		demoHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	up, err := smartassist.New(smartassist.Config{BaseURL: srv.URL, Tokens: smartassist.StaticToken("t")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	return newInProcessClient(up, "", nil), func() []url.Values {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(queries)
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	client, _ := listClient(t)
	ctx := t.Context()
	var ids []string
	var pages []int
	token := ""
	for range 10 {
		resp, err := client.ListConversations(ctx, &smartassistv1.ListConversationsRequest{StreamId: demo.StreamID, PageSize: 12, PageToken: token})
		if err != nil {
			t.Fatalf("page %d: %v", len(pages)+1, err)
		}
		if resp.GetTotalSize() != demo.ConversationCount {
			t.Errorf("total_size = %d, want %d", resp.GetTotalSize(), demo.ConversationCount)
		}
		pages = append(pages, len(resp.GetConversations()))
		for _, c := range resp.GetConversations() {
			ids = append(ids, c.GetId())
		}
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
	}
	// First, middle and last page; the last has no token.
	if !slices.Equal(pages, []int{12, 12, 6}) {
		t.Errorf("page sizes %v, want [12 12 6]", pages)
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != demo.ConversationCount {
		t.Errorf("%d distinct conversations over the pages, want %d", len(ids), demo.ConversationCount)
	}
}

func TestListPageSizes(t *testing.T) {
	t.Parallel()
	client, queries := listClient(t)
	tests := []struct {
		size      int32
		wantLen   int
		wantLimit string // what SmartAssist was asked for
		wantCode  connect.Code
	}{
		{size: 0, wantLen: 20, wantLimit: "20"},
		{size: 5, wantLen: 5, wantLimit: "5"},
		{size: 1000, wantLen: demo.ConversationCount, wantLimit: "100"},
		{size: -1, wantCode: connect.CodeInvalidArgument},
	}
	for _, tt := range tests {
		resp, err := client.ListConversations(t.Context(), &smartassistv1.ListConversationsRequest{StreamId: demo.StreamID, PageSize: tt.size})
		if code := connect.CodeOf(err); err != nil && code != tt.wantCode || err == nil && tt.wantCode != 0 {
			t.Errorf("page_size %d: error %v, want code %v", tt.size, err, tt.wantCode)
			continue
		}
		if err != nil {
			continue
		}
		if got := len(resp.GetConversations()); got != tt.wantLen {
			t.Errorf("page_size %d: %d conversations, want %d", tt.size, got, tt.wantLen)
		}
		q := queries()
		if got := q[len(q)-1].Get("limit"); got != tt.wantLimit {
			t.Errorf("page_size %d: SmartAssist asked for limit=%s, want %s", tt.size, got, tt.wantLimit)
		}
	}
	if n := len(queries()); n != 3 {
		t.Errorf("SmartAssist saw %d requests; the negative page size must not reach it", n)
	}
}

func TestListFiltersAndMask(t *testing.T) {
	t.Parallel()
	client, queries := listClient(t)
	resp, err := client.ListConversations(t.Context(), &smartassistv1.ListConversationsRequest{
		StreamId: demo.StreamID, PageSize: 100, Statuses: []string{"open", "CLOSED"}, Language: "en",
		ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"id", "status", "language"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetConversations()) == 0 {
		t.Fatal("no conversation matched; the demo has open and closed English ones")
	}
	for _, c := range resp.GetConversations() {
		if (c.GetStatus() != "OPEN" && c.GetStatus() != "CLOSED") || c.GetLanguage() != "en" {
			t.Errorf("%s: status %s, language %s outside the filters", c.GetId(), c.GetStatus(), c.GetLanguage())
		}
		if c.GetSource() != "" || c.GetUserInfo() != nil {
			t.Errorf("%s: fields outside read_mask were sent: %v", c.GetId(), c)
		}
	}
	q := queries()[0]
	if got := q["status"]; !slices.Equal(got, []string{"CLOSED", "OPEN"}) {
		t.Errorf("SmartAssist got status=%q, want repeated CLOSED and OPEN", got)
	}
	if q.Get("language") != "en" || q.Get("fields") != "_id,language,status" {
		t.Errorf("SmartAssist got language=%q fields=%q", q.Get("language"), q.Get("fields"))
	}

	// A filter that matches nothing is an empty, final page.
	empty, err := client.ListConversations(t.Context(), &smartassistv1.ListConversationsRequest{StreamId: demo.StreamID, Source: "no-such-source"})
	if err != nil || len(empty.GetConversations()) != 0 || empty.GetNextPageToken() != "" || empty.GetTotalSize() != 0 {
		t.Errorf("empty listing = %v, %v; want no conversations, no token, total 0", empty, err)
	}
}

func TestListPageTokens(t *testing.T) {
	t.Parallel()
	client, queries := listClient(t)
	first, err := client.ListConversations(t.Context(), &smartassistv1.ListConversationsRequest{StreamId: demo.StreamID, PageSize: 2, Statuses: []string{"CLOSED"}})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, %v", first, err)
	}
	tok := first.GetNextPageToken()
	before := len(queries())
	tests := []struct {
		name string
		req  *smartassistv1.ListConversationsRequest
		want string
	}{
		{"other statuses", &smartassistv1.ListConversationsRequest{StreamId: demo.StreamID, PageToken: tok, Statuses: []string{"OPEN"}}, "other filters"},
		{"no statuses", &smartassistv1.ListConversationsRequest{StreamId: demo.StreamID, PageToken: tok}, "other filters"},
		{"other account", &smartassistv1.ListConversationsRequest{StreamId: demo.StreamID, AccountId: "acc-2", PageToken: tok, Statuses: []string{"CLOSED"}}, "other filters"},
		{"tampered", &smartassistv1.ListConversationsRequest{StreamId: demo.StreamID, PageToken: tok[:len(tok)-2] + "AA", Statuses: []string{"CLOSED"}}, "not a token"},
		{"garbage", &smartassistv1.ListConversationsRequest{StreamId: demo.StreamID, PageToken: "%%%", Statuses: []string{"CLOSED"}}, "not a token"},
	}
	for _, tt := range tests {
		_, err := client.ListConversations(t.Context(), tt.req)
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want INVALID_ARGUMENT mentioning %q", tt.name, err, tt.want)
		}
	}
	if n := len(queries()) - before; n != 0 {
		t.Errorf("refused tokens reached SmartAssist %d times", n)
	}
	// The same filters (statuses in another case and order) continue.
	second, err := client.ListConversations(t.Context(), &smartassistv1.ListConversationsRequest{StreamId: demo.StreamID, PageSize: 2, PageToken: tok, Statuses: []string{"closed"}})
	if err != nil || len(second.GetConversations()) == 0 || second.GetConversations()[0].GetId() == first.GetConversations()[0].GetId() {
		t.Errorf("second page = %v, %v; want the next conversations", second, err)
	}
	if got := queries()[len(queries())-1].Get("skip"); got != "2" {
		t.Errorf("second page asked SmartAssist for skip=%s, want 2", got)
	}
}
