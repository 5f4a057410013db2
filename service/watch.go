package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect/v2"
	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service/cache"
)

// WatchConversation streams a conversation: its current state, then each
// change, ending with OK after the CLOSED state. Every watcher of one
// conversation (with one credential) shares a single upstream poller.
func (s *ConversationServer) WatchConversation(ctx context.Context, req *smartassistv1.WatchConversationRequest, stream smartassistv1connect.ConversationServiceWatchConversationServerStream) error {
	mask, err := validateWatch(req)
	if err != nil {
		return err
	}
	c, err := s.begin(ctx, req.GetAccountId())
	if err != nil {
		return err
	}
	cacheKey := s.cacheKey(c, req.GetStreamId(), req.GetConversationId())
	key := watchKey(cacheKey)
	fetch := func(ctx context.Context) (*smartassistv1.Conversation, error) {
		// A poller waits its turn in the account's budget: it has no
		// caller deadline to meet.
		conv, err := s.fetch(ctx, c, req.GetStreamId(), req.GetConversationId(), time.Time{})
		// Each poll is a fresh read: GetConversation may serve it too.
		if err == nil && s.cache != nil && c.auth.cacheTTL >= 0 {
			s.cache.Put(ctx, cacheKey, c.auth.cacheTTL, conv)
		}
		return conv, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates := s.watcher.Subscribe(ctx, key, fetch)
	var lastSent *smartassistv1.Conversation // under a mask
	for {
		select {
		case <-s.draining:
			return newError(connect.CodeUnavailable, "the server is shutting down; watch again (on another replica) to resume", reasonDraining, nil)
		case <-ctx.Done():
			return asConnectError(ctx, ctx.Err())
		case u, ok := <-updates:
			if !ok {
				// The poller closes the channel after the CLOSED state.
				if err := ctx.Err(); err != nil {
					return asConnectError(ctx, err)
				}
				return nil
			}
			if u.Err != nil {
				return asConnectError(ctx, u.Err)
			}
			conv := u.Conversation
			if mask != nil {
				conv = mask.apply(conv)
				// The poller tells whole conversations apart; a change
				// outside the mask shows the caller nothing new.
				if lastSent != nil && proto.Equal(conv, lastSent) {
					continue
				}
				lastSent = conv
			}
			resp := &smartassistv1.WatchConversationResponse{Conversation: conv}
			if err := s.checkSize(proto.Size(resp)); err != nil {
				return err
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
	}
}

// RetryableWatchError says which poll failures a watch rides out (the
// poller tries again later) rather than ending on: SmartAssist briefly
// unavailable or slow, or the account's quota momentarily spent.
func RetryableWatchError(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeResourceExhausted, connect.CodeDeadlineExceeded, connect.CodeAborted:
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// watchKey names one poller: a conversation read with one credential
// for one account. Parts are length-prefixed so that no two keys collide.
func watchKey(k cache.Key) string {
	var b strings.Builder
	for _, part := range []string{k.Credential, k.Account, k.Stream, k.Conversation} {
		fmt.Fprintf(&b, "%d:%s;", len(part), part)
	}
	return b.String()
}
