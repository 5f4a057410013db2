package demo_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
)

func TestHandler(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		auth       string
		wantStatus int
		wantBody   []byte
	}{
		{"sample", "/agentassist/api/v1/public/" + demo.StreamID + "/conversations/" + demo.ConversationID, "x", 200, demo.Conversation},
		{"other conversation", "/agentassist/api/v1/public/" + demo.StreamID + "/conversations/c-other", "x", 404, []byte(`{"errors":[{"msg":"Conversation not found","code":"404"}]}`)},
		{"other stream", "/agentassist/api/v1/public/st-other/conversations/" + demo.ConversationID, "x", 404, nil},
		{"no auth", "/agentassist/api/v1/public/" + demo.StreamID + "/conversations/" + demo.ConversationID, "", 401, nil},
		{"other path", "/elsewhere", "x", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("auth", tt.auth)
			}
			rec := httptest.NewRecorder()
			demo.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			body, _ := io.ReadAll(rec.Body)
			if tt.wantBody != nil && !bytes.Equal(body, tt.wantBody) {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
		})
	}
}

func TestStartClose(t *testing.T) {
	s, err := demo.Start()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/agentassist/api/v1/public/"+demo.StreamID+"/conversations/"+demo.ConversationID, nil)
	req.Header.Set("auth", "demo")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}
