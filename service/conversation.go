// Package service holds the Connect handlers of smartassist-bridge. They are
// thin: validate the request, call SmartAssist through the Upstream
// interface, map the JSON into proto, and translate failures into Connect
// errors through the one table in errors.go.
package service

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"connectrpc.com/connect/v2"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
)

// Upstream is the part of the SmartAssist client the handlers use; tests
// fake it.
type Upstream interface {
	GetConversation(ctx context.Context, req smartassist.Request) ([]byte, error)
}

var _ Upstream = (*smartassist.Client)(nil)

// ConversationServer implements smartassv1connect.ConversationServiceHandler.
type ConversationServer struct {
	upstream       Upstream
	defaultAccount string
	log            *slog.Logger
}

var _ smartassistv1connect.ConversationServiceHandler = (*ConversationServer)(nil)

// NewConversationServer returns a handler that reads conversations from
// upstream, sending defaultAccountID as the account when a request names
// none.
func NewConversationServer(upstream Upstream, defaultAccountID string, log *slog.Logger) *ConversationServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ConversationServer{upstream: upstream, defaultAccount: defaultAccountID, log: log}
}

// forwardedHeaders are the only inbound headers that travel to SmartAssist
// (besides the credentials, which are read separately): request
// correlation and trace context. Never everything.
var forwardedHeaders = []string{"X-Request-Id", "Traceparent", "Tracestate", "Baggage"}

// GetConversation returns one conversation.
func (s *ConversationServer) GetConversation(ctx context.Context, req *smartassistv1.GetConversationRequest) (*smartassistv1.GetConversationResponse, error) {
	if err := validate(req); err != nil {
		return nil, err
	}
	upReq := smartassist.Request{
		StreamID:       req.GetStreamId(),
		ConversationID: req.GetConversationId(),
		AccountID:      req.GetAccountId(),
	}
	if upReq.AccountID == "" {
		upReq.AccountID = s.defaultAccount
	}
	if info, ok := connect.CallInfoForServerContext(ctx); ok {
		h := info.RequestHeader()
		upReq.Auth = inboundToken(h)
		for _, name := range forwardedHeaders {
			if v := h.Get(name); v != "" {
				if upReq.Forward == nil {
					upReq.Forward = http.Header{}
				}
				upReq.Forward.Set(name, v)
			}
		}
	}
	body, err := s.upstream.GetConversation(ctx, upReq)
	if err != nil {
		return nil, upstreamError(ctx, req, err)
	}
	conv, err := mapping.Conversation(body)
	if err != nil {
		// The cause (with its offset) is for our logs; the caller learns
		// that SmartAssist, not they, sent something unreadable.
		s.log.ErrorContext(ctx, "smartassist sent an unreadable conversation",
			slog.String("stream_id", req.GetStreamId()), slog.String("conversation_id", req.GetConversationId()),
			slog.Int("bytes", len(body)), slog.String("error", err.Error()))
		// SmartAssist did answer, so the ErrorInfo says with what status,
		// as for every other answer: Upstream returns a body only for a
		// 2xx, and SmartAssist's is 200.
		meta := map[string]string{"httpStatus": "200"}
		return nil, newError(connect.CodeInternal, "SmartAssist returned a conversation that is not valid JSON", reasonUpstreamBadResponse, meta).WithCause(err)
	}
	return &smartassistv1.GetConversationResponse{Conversation: conv}, nil
}

// inboundToken returns the caller's SmartAssist JWT: the "auth" header as
// SmartAssist itself takes it, or an "Authorization: Bearer" header.
func inboundToken(h *connect.Header) string {
	if v := strings.TrimSpace(h.Get("Auth")); v != "" {
		return v
	}
	v := strings.TrimSpace(h.Get("Authorization"))
	if len(v) > len("bearer ") && strings.EqualFold(v[:len("bearer ")], "bearer ") {
		return strings.TrimSpace(v[len("bearer "):])
	}
	return ""
}

// validate checks the ids before anything is sent anywhere: only the
// characters real SmartAssist ids use, so nothing can traverse paths or
// inject a query into the upstream URL.
func validate(req *smartassistv1.GetConversationRequest) error {
	fields := []struct {
		name, value string
		optional    bool
	}{
		{"stream_id", req.GetStreamId(), false},
		{"conversation_id", req.GetConversationId(), false},
		{"account_id", req.GetAccountId(), true},
	}
	var problems []fieldProblem
	for _, f := range fields {
		if f.optional && f.value == "" {
			continue
		}
		if err := smartassist.ValidateID(f.name, f.value); err != nil {
			problems = append(problems, fieldProblem{field: f.name, err: err})
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return invalidArgument(problems)
}

// ListConversations answers Unimplemented for now.
// Implemented in the integration branch.
func (s *ConversationServer) ListConversations(context.Context, *smartassistv1.ListConversationsRequest) (*smartassistv1.ListConversationsResponse, error) {
	return nil, connect.NewError(connect.CodeUnimplemented, "smartassist.v1.ConversationService.ListConversations is not implemented yet")
}

// WatchConversation answers Unimplemented for now.
// Implemented in the integration branch.
func (s *ConversationServer) WatchConversation(context.Context, *smartassistv1.WatchConversationRequest, smartassistv1connect.ConversationServiceWatchConversationServerStream) error {
	return connect.NewError(connect.CodeUnimplemented, "smartassist.v1.ConversationService.WatchConversation is not implemented yet")
}
