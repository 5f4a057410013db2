package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connectinprocess"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist/smartassisttest"
	"github.com/smartassist-bridge/smartassist-bridge/service/watch"
)

// The watched conversation of these tests.
const (
	watchStreamID       = "st-watch"
	watchConversationID = "c-watch-1"
)

const (
	// watchInterval is how often the tests' watches poll: short, so that
	// a watch moves on quickly.
	watchInterval = 20 * time.Millisecond
	// watchDeadline bounds every watch of these tests: a liveness guard
	// against a hung stream, not a timing assertion.
	watchDeadline = 30 * time.Second
)

// conversationState is a state of the watched conversation, as
// SmartAssist sends it.
type conversationState struct {
	status, updatedAt, language string
}

var (
	open1   = conversationState{status: "OPEN", updatedAt: "2024-05-01T10:00:00.000Z", language: "en"}
	active2 = conversationState{status: "ACTIVE", updatedAt: "2024-05-01T10:01:00.000Z", language: "en"}
	closed3 = conversationState{status: "CLOSED", updatedAt: "2024-05-01T10:02:00.000Z", language: "en"}
)

// json is the state in SmartAssist's shape.
func (s conversationState) json(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"_id":       watchConversationID,
		"botId":     watchStreamID,
		"source":    "rtm",
		"status":    s.status,
		"updatedAt": s.updatedAt,
		"language":  s.language,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// proto is the state as the bridge maps it.
func (s conversationState) proto(t *testing.T) *smartassistv1.Conversation {
	t.Helper()
	conv, err := mapping.Conversation(s.json(t))
	if err != nil {
		t.Fatalf("mapping %+v: %v", s, err)
	}
	return conv
}

// countingUpstream counts the calls that would reach SmartAssist: those
// whose context is still live.
type countingUpstream struct {
	service.Upstream
	calls atomic.Int64
}

func (u *countingUpstream) GetConversation(ctx context.Context, req smartassist.Request) ([]byte, error) {
	if ctx.Err() == nil {
		u.calls.Add(1)
	}
	return u.Upstream.GetConversation(ctx, req)
}

// watchFixture is a ConversationServer in front of a fake SmartAssist,
// called in process.
type watchFixture struct {
	fake     *smartassisttest.Server
	upstream *countingUpstream
	client   smartassistv1connect.ConversationServiceClient
}

// newWatchFixture serves a ConversationServer configured by o (its
// Upstream is set here; WatchInterval defaults to watchInterval) in front
// of a fake SmartAssist started with fakeOpts. The SmartAssist client
// makes one attempt per call, so that each poll is one request to the
// fake and every retry is the watch's own.
func newWatchFixture(t *testing.T, o service.Options, fakeOpts ...smartassisttest.Option) *watchFixture {
	t.Helper()
	fake := smartassisttest.NewServer(t, fakeOpts...)
	client, err := smartassist.New(smartassist.Config{
		BaseURL:     fake.URL,
		Tokens:      smartassist.StaticToken("static-test-token"),
		MaxAttempts: 1,
	})
	if err != nil {
		t.Fatalf("smartassist.New: %v", err)
	}
	t.Cleanup(client.Close)
	up := &countingUpstream{Upstream: client}
	o.Upstream = up
	if o.WatchInterval == 0 {
		o.WatchInterval = watchInterval
	}
	server := connect.NewServer()
	smartassistv1connect.RegisterConversationServiceHandler(server, service.NewConversationServer(o))
	return &watchFixture{
		fake:     fake,
		upstream: up,
		client:   smartassistv1connect.NewConversationServiceClient(connect.NewClient(connectinprocess.New(server))),
	}
}

// set makes SmartAssist serve s from now on.
func (f *watchFixture) set(t *testing.T, s conversationState) {
	t.Helper()
	f.fake.SetConversation(watchStreamID, watchConversationID, s.json(t))
}

// watchRequest asks to watch the conversation, with a read mask of paths
// if any are given.
func watchRequest(paths ...string) *smartassistv1.WatchConversationRequest {
	req := &smartassistv1.WatchConversationRequest{StreamId: watchStreamID, ConversationId: watchConversationID}
	if paths != nil {
		req.ReadMask = &fieldmaskpb.FieldMask{Paths: paths}
	}
	return req
}

// watchStream is an open WatchConversation call.
type watchStream = smartassistv1connect.ConversationServiceWatchConversationClientStream

// open starts a watch on ctx (bounded by watchDeadline); the stream is
// closed at cleanup. An error opening it is returned by the first Receive
// as well, so callers read every outcome from Receive.
func (f *watchFixture) open(t *testing.T, ctx context.Context, req *smartassistv1.WatchConversationRequest) (watchStream, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, watchDeadline)
	t.Cleanup(cancel)
	stream, err := f.client.WatchConversation(ctx, req)
	if err != nil {
		return stream, err
	}
	t.Cleanup(func() { _ = stream.Close() })
	return stream, nil
}

// mustOpen is open for a watch that must start.
func (f *watchFixture) mustOpen(t *testing.T, ctx context.Context, req *smartassistv1.WatchConversationRequest) watchStream {
	t.Helper()
	stream, err := f.open(t, ctx, req)
	if err != nil {
		t.Fatalf("WatchConversation: %v", err)
	}
	return stream
}

// receive returns the stream's next conversation, failing the test if the
// stream ends instead.
func receive(t *testing.T, stream watchStream) *smartassistv1.Conversation {
	t.Helper()
	resp, err := stream.Receive()
	if err != nil {
		t.Fatalf("Receive: %v, want a message", err)
	}
	return resp.GetConversation()
}

// streamEnd reads the stream to its end and returns the messages still in
// it and how it ended: nil for OK.
func streamEnd(stream watchStream) ([]*smartassistv1.Conversation, error) {
	var rest []*smartassistv1.Conversation
	for {
		resp, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return rest, nil
		}
		if err != nil {
			return rest, err
		}
		rest = append(rest, resp.GetConversation())
	}
}

// checkOK fails the test unless the stream ends with OK and no more
// messages.
func checkOK(t *testing.T, stream watchStream) {
	t.Helper()
	rest, err := streamEnd(stream)
	if err != nil {
		t.Errorf("stream ended with %v, want OK", err)
	}
	for _, c := range rest {
		t.Errorf("unexpected message before the end: %v", c)
	}
}

// checkReason fails the test unless err carries an ErrorInfo of our
// domain with reason.
func checkReason(t *testing.T, err error, reason string) {
	t.Helper()
	info, ok := findDetail[*errdetails.ErrorInfo](details(t, err))
	if !ok || info.GetDomain() != service.ErrorDomain || info.GetReason() != reason {
		t.Errorf("ErrorInfo %v, want domain %s reason %s", info, service.ErrorDomain, reason)
	}
}

// waitPolls waits until SmartAssist has been asked n more times, so that
// the poller has seen the state it serves now at least n-1 times.
func (f *watchFixture) waitPolls(t *testing.T, n int64) {
	t.Helper()
	from := f.upstream.calls.Load()
	rpctest.Eventually(t, "the poller polls again", func() bool { return f.upstream.calls.Load() >= from+n })
}

// watchStep is one state SmartAssist serves during a watch, and the
// message it must bring (nil: none).
type watchStep struct {
	state conversationState
	want  *smartassistv1.Conversation
}

// runSteps serves each step's state in turn to a watch of req, checking
// the message each brings. Before the next state, the poller sees the
// current one several more times, and since the next message must be the
// next step's, an unchanged state sent twice fails the test. The watch
// must then end with OK.
func runSteps(t *testing.T, f *watchFixture, req *smartassistv1.WatchConversationRequest, steps []watchStep) {
	t.Helper()
	f.set(t, steps[0].state)
	stream := f.mustOpen(t, t.Context(), req)
	for i, step := range steps {
		if i > 0 {
			f.set(t, step.state)
		}
		if step.want != nil {
			if diff := cmp.Diff(step.want, receive(t, stream), protocmp.Transform()); diff != "" {
				// A stale message here is one an earlier state sent that it must not have.
				t.Fatalf("step %d (%+v): message (-want +got):\n%s", i, step.state, diff)
			}
		}
		if i < len(steps)-1 {
			f.waitPolls(t, 3)
		}
	}
	checkOK(t, stream)
}

// TestWatchConversationSendsChanges proves that a watch sends the current
// state first, then one message per change (of status, of updatedAt
// alone, or of content alone), never a state it already sent however
// often SmartAssist repeats it, and ends with OK after the CLOSED state:
// at once for a conversation that is already closed.
func TestWatchConversationSendsChanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		states []conversationState
	}{
		{name: "status changes", states: []conversationState{open1, active2, closed3}},
		{name: "only updatedAt changes", states: []conversationState{
			open1,
			{status: "OPEN", updatedAt: "2024-05-01T10:00:30.000Z", language: "en"},
			closed3,
		}},
		{name: "only content changes", states: []conversationState{
			open1,
			{status: "OPEN", updatedAt: open1.updatedAt, language: "fr"},
			{status: "CLOSED", updatedAt: open1.updatedAt, language: "fr"},
		}},
		{name: "already closed", states: []conversationState{closed3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newWatchFixture(t, service.Options{})
			var steps []watchStep
			for _, s := range tt.states {
				steps = append(steps, watchStep{state: s, want: s.proto(t)})
			}
			runSteps(t, f, watchRequest(), steps)
		})
	}
}

// TestWatchConversationReadMask proves that read_mask applies to every
// message of a watch, and that a change only to fields the mask leaves
// out sends no message (the API's promise: "an unchanged state is never
// sent twice", as far as read_mask shows it).
func TestWatchConversationReadMask(t *testing.T) {
	t.Parallel()
	masked := func(t *testing.T, s conversationState) *smartassistv1.Conversation {
		full := s.proto(t)
		return &smartassistv1.Conversation{Id: full.GetId(), Status: full.GetStatus()}
	}
	french := conversationState{status: "OPEN", updatedAt: "2024-05-01T10:00:30.000Z", language: "fr"}
	tests := []struct {
		name  string
		steps func(t *testing.T) []watchStep
	}{
		{name: "each message keeps only id and status", steps: func(t *testing.T) []watchStep {
			return []watchStep{
				{state: open1, want: masked(t, open1)},
				{state: active2, want: masked(t, active2)},
				{state: closed3, want: masked(t, closed3)},
			}
		}},
		{name: "a change outside the mask sends nothing", steps: func(t *testing.T) []watchStep {
			return []watchStep{
				{state: open1, want: masked(t, open1)},
				{state: french}, // updatedAt and language changed; id and status did not
				{state: closed3, want: masked(t, closed3)},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newWatchFixture(t, service.Options{})
			runSteps(t, f, watchRequest("id", "status"), tt.steps(t))
		})
	}
}

// TestWatchConversationRefusesBadRequests proves that a watch with an
// invalid read_mask or id ends with INVALID_ARGUMENT naming the field,
// before anything is sent to SmartAssist.
func TestWatchConversationRefusesBadRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		req       *smartassistv1.WatchConversationRequest
		wantField string
	}{
		{name: "unknown path", req: watchRequest("id", "no_such_field"), wantField: "read_mask"},
		{name: "star among paths", req: watchRequest("*", "id"), wantField: "read_mask"},
		{name: "path into a timestamp", req: watchRequest("updated_at.seconds"), wantField: "read_mask"},
		{name: "bad conversation id", req: &smartassistv1.WatchConversationRequest{StreamId: watchStreamID, ConversationId: "../x"}, wantField: "conversation_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newWatchFixture(t, service.Options{})
			f.set(t, open1)
			var rest []*smartassistv1.Conversation
			stream, err := f.open(t, t.Context(), tt.req)
			if err == nil {
				rest, err = streamEnd(stream)
			}
			if code := connect.CodeOf(err); code != connect.CodeInvalidArgument {
				t.Fatalf("stream ended with %v (code %v), want invalid_argument", err, code)
			}
			if len(rest) != 0 {
				t.Errorf("%d messages before the error, want none", len(rest))
			}
			checkReason(t, err, "INVALID_ARGUMENT")
			br, _ := findDetail[*errdetails.BadRequest](details(t, err))
			var fields []string
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
			if diff := cmp.Diff([]string{tt.wantField}, fields); diff != "" {
				t.Errorf("violated fields (-want +got):\n%s", diff)
			}
			if n := f.fake.Hits(); n != 0 {
				t.Errorf("SmartAssist got %d requests, want 0", n)
			}
		})
	}
}

// TestWatchConversationDraining proves that when the server starts
// draining (Options.Draining is closed), a watch of a live conversation,
// open before or started after, ends with UNAVAILABLE and the DRAINING
// reason, so that its client resumes elsewhere.
func TestWatchConversationDraining(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		drainBefore bool // the watch starts after draining began
	}{
		{name: "open watch"},
		{name: "watch started while draining", drainBefore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			draining := make(chan struct{})
			f := newWatchFixture(t, service.Options{Draining: draining})
			f.set(t, open1) // live: it never closes
			if tt.drainBefore {
				close(draining)
			}
			stream := f.mustOpen(t, t.Context(), watchRequest())
			if !tt.drainBefore {
				if diff := cmp.Diff(open1.proto(t), receive(t, stream), protocmp.Transform()); diff != "" {
					t.Fatalf("first message (-want +got):\n%s", diff)
				}
				f.waitPolls(t, 2) // the watch is settled: polling, not sending
				close(draining)
			}
			rest, err := streamEnd(stream)
			if code := connect.CodeOf(err); code != connect.CodeUnavailable {
				t.Fatalf("stream ended with %v (code %v), want unavailable", err, code)
			}
			checkReason(t, err, "DRAINING")
			if !tt.drainBefore && len(rest) != 0 {
				t.Errorf("%d messages after draining began, want none", len(rest))
			}
		})
	}
}

// notFoundBody is SmartAssist's answer for a conversation it does not
// have.
var notFoundBody = []byte(`{"errors":[{"msg":"Conversation not found","code":"404"}]}`)

// TestWatchConversationUpstreamErrors proves that a SmartAssist failure
// that is not transient ends the watch with the code and reason
// GetConversation would give, whether it comes before the first message
// (then no message is sent) or after it; and that transient failures
// (503) are ridden out instead.
func TestWatchConversationUpstreamErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fakeOpts []smartassisttest.Option
		state    *conversationState // what SmartAssist has; nil: nothing
		account  string
		// first are scripted answers before SmartAssist answers normally;
		// later is one scripted answer after the first message.
		first      []smartassisttest.Response
		later      *smartassisttest.Response
		wantFirst  bool // a first message arrives
		wantCode   connect.Code
		wantReason string
	}{
		{
			name:     "conversation not found",
			wantCode: connect.CodeNotFound, wantReason: "CONVERSATION_NOT_FOUND",
		},
		{
			name:     "credentials refused",
			fakeOpts: []smartassisttest.Option{smartassisttest.WithPassThroughToken("another-token")},
			state:    &open1,
			wantCode: connect.CodeUnauthenticated, wantReason: "UPSTREAM_UNAUTHENTICATED",
		},
		{
			name:     "account refused",
			fakeOpts: []smartassisttest.Option{smartassisttest.WithAccountID("acc-1")},
			state:    &open1,
			account:  "acc-2",
			wantCode: connect.CodePermissionDenied, wantReason: "UPSTREAM_PERMISSION_DENIED",
		},
		{
			name:      "conversation gone after the first message",
			state:     &open1,
			later:     &smartassisttest.Response{Status: http.StatusNotFound, Body: notFoundBody},
			wantFirst: true,
			wantCode:  connect.CodeNotFound, wantReason: "CONVERSATION_NOT_FOUND",
		},
		{
			name:  "transient unavailability is ridden out",
			state: &closed3,
			first: []smartassisttest.Response{
				{Status: http.StatusServiceUnavailable}, {Status: http.StatusServiceUnavailable}, {Status: http.StatusBadGateway},
			},
			wantFirst: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newWatchFixture(t, service.Options{}, tt.fakeOpts...)
			if tt.state != nil {
				f.set(t, *tt.state)
			}
			f.fake.Script(watchConversationID, tt.first...)
			req := watchRequest()
			req.AccountId = tt.account
			stream := f.mustOpen(t, t.Context(), req)
			if tt.wantFirst {
				if diff := cmp.Diff(tt.state.proto(t), receive(t, stream), protocmp.Transform()); diff != "" {
					t.Fatalf("first message (-want +got):\n%s", diff)
				}
			}
			if tt.later != nil {
				f.fake.Script(watchConversationID, *tt.later)
			}
			rest, err := streamEnd(stream)
			if len(rest) != 0 {
				t.Errorf("%d unexpected messages: %v", len(rest), rest)
			}
			if tt.wantCode == 0 {
				if err != nil {
					t.Errorf("stream ended with %v, want OK", err)
				}
				if n, least := f.fake.Hits(), len(tt.first)+1; n < least {
					t.Errorf("SmartAssist got %d requests, want at least %d", n, least)
				}
				return
			}
			if code := connect.CodeOf(err); code != tt.wantCode {
				t.Fatalf("stream ended with %v (code %v), want %v", err, code, tt.wantCode)
			}
			checkReason(t, err, tt.wantReason)
			if strings.Contains(err.Error(), "static-test-token") {
				t.Error("the error names the SmartAssist token")
			}
		})
	}
}

// TestWatchConversationCallerLeaves proves, through the handler with a
// shared watch.Hub, that watchers of one conversation share one poller,
// that a caller cancelling its call ends its own watch only, and that
// once the last watcher has left the poller stops: SmartAssist is asked
// nothing more.
func TestWatchConversationCallerLeaves(t *testing.T) {
	t.Parallel()
	hub := watch.New(watch.Config{MinInterval: watchInterval, Retryable: service.RetryableWatchError})
	t.Cleanup(hub.Close)
	f := newWatchFixture(t, service.Options{Watcher: hub})
	f.set(t, open1)

	ctxA, leaveA := context.WithCancel(t.Context())
	defer leaveA()
	a := f.mustOpen(t, ctxA, watchRequest())
	ctxB, leaveB := context.WithCancel(t.Context())
	defer leaveB()
	b := f.mustOpen(t, ctxB, watchRequest())
	for name, s := range map[string]watchStream{"A": a, "B": b} {
		if diff := cmp.Diff(open1.proto(t), receive(t, s), protocmp.Transform()); diff != "" {
			t.Fatalf("watcher %s: first message (-want +got):\n%s", name, diff)
		}
	}
	if n := hub.Pollers(); n != 1 {
		t.Fatalf("Pollers() = %d for two watchers of one conversation, want 1", n)
	}

	leaveA()
	if _, err := streamEnd(a); !errors.Is(err, context.Canceled) && connect.CodeOf(err) != connect.CodeCanceled {
		t.Errorf("watcher A ended with %v, want canceled", err)
	}
	f.waitPolls(t, 3) // the poller goes on for B
	if n := hub.Pollers(); n != 1 {
		t.Errorf("Pollers() = %d with one watcher left, want 1", n)
	}
	f.set(t, active2)
	if diff := cmp.Diff(active2.proto(t), receive(t, b), protocmp.Transform()); diff != "" {
		t.Errorf("watcher B after A left: message (-want +got):\n%s", diff)
	}

	leaveB()
	if _, err := streamEnd(b); !errors.Is(err, context.Canceled) && connect.CodeOf(err) != connect.CodeCanceled {
		t.Errorf("watcher B ended with %v, want canceled", err)
	}
	rpctest.Eventually(t, "the poller stops after the last watcher left", func() bool { return hub.Pollers() == 0 })
	stopped := f.upstream.calls.Load()
	time.Sleep(10 * watchInterval) // room for polls that must not happen
	if n := f.upstream.calls.Load(); n != stopped {
		t.Errorf("SmartAssist was asked %d more times after the last watcher left", n-stopped)
	}
}
