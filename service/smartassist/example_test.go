package smartassist_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
)

func ExampleClient_GetConversation() {
	// A stand-in for SmartAssist; in production BaseURL is the SmartAssist
	// origin, and tests use the smartassisttest package.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/agentassist/api/v1/public/st-1/conversations/c-1" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[{"msg":"Conversation not found","code":"404"}]}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"conversationId":"c-1"}`)
	}))
	defer upstream.Close()

	client, err := smartassist.New(smartassist.Config{
		BaseURL: upstream.URL,
		Timeout: 5 * time.Second,
		Tokens: &smartassist.ClientCredentials{
			ClientID: "cs-example",
			Secret:   []byte("example-secret"),
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	body, err := client.GetConversation(context.Background(), smartassist.Request{
		StreamID:       "st-1",
		ConversationID: "c-1",
		AccountID:      "acc-1",
	})
	fmt.Println(string(body), err)

	_, err = client.GetConversation(context.Background(), smartassist.Request{
		StreamID:       "st-1",
		ConversationID: "c-unknown",
	})
	if e, ok := errors.AsType[*smartassist.Error](err); ok && e.Kind == smartassist.KindStatus {
		fmt.Println(e.HTTPStatus, e.UpstreamMsg)
	}
	// Output:
	// {"conversationId":"c-1"} <nil>
	// 404 Conversation not found
}

func ExampleClient_ListConversations() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// SmartAssist receives: skip=20&limit=10&status=OPEN&status=ACTIVE
		fmt.Println(r.URL.Path, r.URL.Query()["status"], r.URL.Query().Get("limit"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"results":[],"skip":20,"limit":10,"hasMore":false,"totalPages":2,"totalResults":12}`)
	}))
	defer upstream.Close()

	client, err := smartassist.New(smartassist.Config{BaseURL: upstream.URL})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	body, err := client.ListConversations(context.Background(), smartassist.ListRequest{
		StreamID: "st-1",
		Auth:     "caller-jwt",
		Skip:     20,
		Limit:    10,
		Statuses: []string{"OPEN", "ACTIVE"},
	})
	fmt.Println(string(body), err)
	// Output:
	// /agentassist/api/v1/public/st-1/conversations [OPEN ACTIVE] 10
	// {"results":[],"skip":20,"limit":10,"hasMore":false,"totalPages":2,"totalResults":12} <nil>
}
