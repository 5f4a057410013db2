package smartassist_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
)

const (
	streamID       = "st-1"
	conversationID = "c-1"
	accountID      = "acc-1"
	passThrough    = "pass-through-token-7f3a"
	clientID       = "cs-bridge-test"
)

var (
	conversationBody = []byte(`{"conversationId":"c-1","messages":[{"text":"hi"}]}`)
	secret           = []byte("s3cr3t-signing-key-do-not-log")
)

// newClient returns a Client for srv with fast backoff, closed at cleanup.
// mutate, if not nil, adjusts the Config first.
func newClient(t *testing.T, srv *smartassisttest.Server, mutate func(*smartassist.Config)) *smartassist.Client {
	t.Helper()
	cfg := smartassist.Config{
		BaseURL:     srv.URL,
		Timeout:     5 * time.Second,
		BackoffBase: time.Millisecond,
		BackoffMax:  4 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := smartassist.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// request returns a valid request for the default conversation that
// authenticates with the pass-through token.
func request() smartassist.Request {
	return smartassist.Request{
		StreamID:       streamID,
		ConversationID: conversationID,
		AccountID:      accountID,
		Auth:           passThrough,
	}
}

// asError returns err as an *smartassist.Error or fails the test.
func asError(t *testing.T, err error) *smartassist.Error {
	t.Helper()
	if err == nil {
		t.Fatal("got nil error, want *smartassist.Error")
	}
	e, ok := errors.AsType[*smartassist.Error](err)
	if !ok {
		t.Fatalf("got %T %v, want *smartassist.Error", err, err)
	}
	return e
}

// fmtV renders err with %+v, the verb a structured logger might use.
func fmtV(err error) string { return fmt.Sprintf("%+v", err) }
