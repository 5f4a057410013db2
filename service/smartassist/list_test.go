package smartassist_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	sat "github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

const wantListPath = "/agentassist/api/v1/public/st-1/conversations"

// listRequest returns a valid list request authenticated with the
// pass-through token.
func listRequest() smartassist.ListRequest {
	return smartassist.ListRequest{StreamID: streamID, AccountID: accountID, Auth: passThrough}
}

// listPage is the part of SmartAssist's list answer the tests read.
type listPage struct {
	Results []struct {
		ID     string `json:"_id"`
		Status string `json:"status"`
	} `json:"results"`
	Skip         int  `json:"skip"`
	Limit        int  `json:"limit"`
	HasMore      bool `json:"hasMore"`
	TotalPages   int  `json:"totalPages"`
	TotalResults int  `json:"totalResults"`
}

func TestListConversationsQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  func(*smartassist.ListRequest)
		want url.Values // nil: no query at all
	}{
		{name: "nothing set sends no query", req: func(*smartassist.ListRequest) {}},
		{
			name: "every parameter",
			req: func(r *smartassist.ListRequest) {
				r.Skip, r.Limit = 20, 10
				r.Fields = []string{"status", "userInfo.caller", "_id"}
				r.Statuses = []string{"OPEN", "ACTIVE", "OPEN"}
				r.Source, r.Language = "audiocodes", "en-US"
			},
			want: url.Values{
				"skip": {"20"}, "limit": {"10"},
				"fields":   {"status,userInfo.caller,_id"},
				"status":   {"OPEN", "ACTIVE"}, // repeated, duplicates once
				"source":   {"audiocodes"},
				"language": {"en-US"},
			},
		},
		{name: "single status", req: func(r *smartassist.ListRequest) { r.Statuses = []string{"CLOSED"} }, want: url.Values{"status": {"CLOSED"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t, sat.WithPassThroughToken(passThrough))
			c := newClient(t, srv, nil)
			req := listRequest()
			tt.req(&req)

			if _, err := c.ListConversations(t.Context(), req); err != nil {
				t.Fatalf("ListConversations: %v", err)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 || reqs[0].Method != http.MethodGet || reqs[0].Path != wantListPath {
				t.Fatalf("requests = %+v, want one GET %s", reqs, wantListPath)
			}
			if tt.want == nil {
				if reqs[0].Query != "" {
					t.Errorf("query = %q, want none", reqs[0].Query)
				}
			} else {
				got, err := url.ParseQuery(reqs[0].Query)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("query %q (-want +got):\n%s", reqs[0].Query, diff)
				}
			}
			if got := reqs[0].Header.Get("auth"); got != passThrough {
				t.Errorf("auth = %q, want the pass-through token", got)
			}
			if got := reqs[0].Header.Get("accountId"); got != accountID {
				t.Errorf("accountId = %q, want %q", got, accountID)
			}
		})
	}
}

func TestListConversationsPages(t *testing.T) {
	t.Parallel()
	opts := []sat.Option{sat.WithPassThroughToken(passThrough)}
	statuses := []string{"CLOSED", "OPEN", "CLOSED", "ACTIVE", "CLOSED"}
	for i, s := range statuses {
		id := fmt.Sprintf("c-%d", i)
		opts = append(opts, sat.WithConversation(streamID, id, []byte(`{"_id":"`+id+`","status":"`+s+`","source":"rtm","language":"en"}`)))
	}
	opts = append(opts, sat.WithConversation("st-other", "c-x", []byte(`{"_id":"c-x","status":"CLOSED"}`)))
	srv := sat.NewServer(t, opts...)
	c := newClient(t, srv, nil)

	tests := []struct {
		name      string
		req       func(*smartassist.ListRequest)
		wantIDs   []string
		wantMore  bool
		wantPages int
		wantTotal int
	}{
		{name: "first page", req: func(r *smartassist.ListRequest) { r.Limit = 2 }, wantIDs: []string{"c-0", "c-1"}, wantMore: true, wantPages: 3, wantTotal: 5},
		{name: "middle page", req: func(r *smartassist.ListRequest) { r.Skip, r.Limit = 2, 2 }, wantIDs: []string{"c-2", "c-3"}, wantMore: true, wantPages: 3, wantTotal: 5},
		{name: "last page", req: func(r *smartassist.ListRequest) { r.Skip, r.Limit = 4, 2 }, wantIDs: []string{"c-4"}, wantPages: 3, wantTotal: 5},
		{name: "past the end", req: func(r *smartassist.ListRequest) { r.Skip, r.Limit = 9, 2 }, wantIDs: []string{}, wantPages: 3, wantTotal: 5},
		{name: "status filter", req: func(r *smartassist.ListRequest) { r.Statuses = []string{"CLOSED"} }, wantIDs: []string{"c-0", "c-2", "c-4"}, wantPages: 1, wantTotal: 3},
		{name: "two statuses", req: func(r *smartassist.ListRequest) { r.Statuses = []string{"OPEN", "ACTIVE"} }, wantIDs: []string{"c-1", "c-3"}, wantPages: 1, wantTotal: 2},
		{name: "source and language", req: func(r *smartassist.ListRequest) { r.Source, r.Language = "rtm", "de" }, wantIDs: []string{}, wantTotal: 0},
		{name: "empty stream", req: func(r *smartassist.ListRequest) { r.StreamID = "st-empty" }, wantIDs: []string{}, wantTotal: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := listRequest()
			tt.req(&req)
			body, err := c.ListConversations(t.Context(), req)
			if err != nil {
				t.Fatalf("ListConversations: %v", err)
			}
			var page listPage
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatalf("answer %s: %v", body, err)
			}
			ids := []string{}
			for _, r := range page.Results {
				ids = append(ids, r.ID)
			}
			if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if page.HasMore != tt.wantMore || page.TotalPages != tt.wantPages || page.TotalResults != tt.wantTotal {
				t.Errorf("hasMore, totalPages, totalResults = %v, %d, %d; want %v, %d, %d",
					page.HasMore, page.TotalPages, page.TotalResults, tt.wantMore, tt.wantPages, tt.wantTotal)
			}
		})
	}
}

func TestListConversationsInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mutate    func(*smartassist.ListRequest)
		wantField string
	}{
		{name: "bad stream", mutate: func(r *smartassist.ListRequest) { r.StreamID = "../x" }, wantField: "stream_id"},
		{name: "bad account", mutate: func(r *smartassist.ListRequest) { r.AccountID = "a b" }, wantField: "account_id"},
		{name: "auth with CRLF", mutate: func(r *smartassist.ListRequest) { r.Auth = passThrough + "\r\nX: 1" }, wantField: "auth"},
		{name: "negative skip", mutate: func(r *smartassist.ListRequest) { r.Skip = -1 }, wantField: "skip"},
		{name: "negative limit", mutate: func(r *smartassist.ListRequest) { r.Limit = -5 }, wantField: "limit"},
		{name: "lower-case status", mutate: func(r *smartassist.ListRequest) { r.Statuses = []string{"closed"} }, wantField: "statuses[0]"},
		{name: "unknown status", mutate: func(r *smartassist.ListRequest) { r.Statuses = []string{"OPEN", "DONE"} }, wantField: "statuses[1]"},
		{name: "status smuggling a parameter", mutate: func(r *smartassist.ListRequest) { r.Statuses = []string{"OPEN&limit=1000"} }, wantField: "statuses[0]"},
		{name: "field with comma", mutate: func(r *smartassist.ListRequest) { r.Fields = []string{"a,b"} }, wantField: "fields[0]"},
		{name: "empty field", mutate: func(r *smartassist.ListRequest) { r.Fields = []string{"status", ""} }, wantField: "fields[1]"},
		{name: "too many fields", mutate: func(r *smartassist.ListRequest) { r.Fields = make([]string, 65) }, wantField: "fields"},
		{name: "source with space", mutate: func(r *smartassist.ListRequest) { r.Source = "rt m" }, wantField: "source"},
		{name: "language too long", mutate: func(r *smartassist.ListRequest) { r.Language = strings.Repeat("e", 65) }, wantField: "language"},
		{name: "language with query", mutate: func(r *smartassist.ListRequest) { r.Language = "en?x=1" }, wantField: "language"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t)
			c := newClient(t, srv, nil)
			req := listRequest()
			tt.mutate(&req)

			_, err := c.ListConversations(t.Context(), req)

			e := asError(t, err)
			if e.Kind != smartassist.KindInvalidRequest || e.Attempts != 0 || e.Op != "list conversations" {
				t.Errorf("error = %v, want KindInvalidRequest for list conversations with 0 attempts", err)
			}
			if !strings.Contains(err.Error(), tt.wantField+":") {
				t.Errorf("Error() = %q, want it to name %s", err, tt.wantField)
			}
			if strings.Contains(err.Error(), passThrough) {
				t.Errorf("Error() = %q leaks the token", err)
			}
			if hits := srv.Hits(); hits != 0 {
				t.Errorf("server hits = %d, want 0", hits)
			}
		})
	}
}

func TestListConversationsSharesTheRequestPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		script   []sat.Response
		tokens   smartassist.TokenSource
		auth     string
		want     smartassist.Kind // 0: success
		wantHits int
	}{
		{name: "retried", script: []sat.Response{{Status: 503}, {CutBody: true, Body: []byte(`{"results":[]}`)}}, auth: passThrough, wantHits: 3},
		{name: "minted token", tokens: &smartassist.ClientCredentials{ClientID: clientID, Secret: secret}, wantHits: 1},
		{name: "no credentials", want: smartassist.KindNoCredentials},
		{name: "status error", script: []sat.Response{{Status: 400}}, auth: passThrough, want: smartassist.KindStatus, wantHits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sat.NewServer(t, sat.WithSecret(clientID, secret), sat.WithPassThroughToken(passThrough))
			srv.ScriptList(tt.script...)
			c := newClient(t, srv, func(cfg *smartassist.Config) { cfg.Tokens = tt.tokens })
			req := listRequest()
			req.Auth = tt.auth

			_, err := c.ListConversations(t.Context(), req)

			if tt.want == 0 {
				if err != nil {
					t.Fatalf("ListConversations: %v", err)
				}
			} else if e := asError(t, err); e.Kind != tt.want || e.Op != "list conversations" {
				t.Errorf("error = %v, want kind %q for list conversations", err, tt.want)
			}
			if hits := srv.Hits(); hits != tt.wantHits {
				t.Errorf("server hits = %d, want %d", hits, tt.wantHits)
			}
		})
	}
}
