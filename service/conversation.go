// Package service holds the Connect handlers of smartassist-bridge. They are
// thin: validate the request, decide which account and credential it may
// use, read through the cache (which coalesces identical reads and spends
// SmartAssist's quota once), map the JSON into proto, and translate
// failures into Connect errors through the one table in errors.go.
package service

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1/smartassistv1connect"
	"github.com/smartassist-bridge/smartassist-bridge/service/cache"
	"github.com/smartassist-bridge/smartassist-bridge/service/mapping"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
	"github.com/smartassist-bridge/smartassist-bridge/service/watch"
)

// Upstream is the part of the SmartAssist client the handlers use; tests
// fake it.
type Upstream interface {
	GetConversation(ctx context.Context, req smartassist.Request) ([]byte, error)
	ListConversations(ctx context.Context, req smartassist.ListRequest) ([]byte, error)
}

var _ Upstream = (*smartassist.Client)(nil)

// Cache reads conversations through a cache that coalesces identical
// reads; *cache.Cache implements it.
type Cache interface {
	Get(ctx context.Context, key cache.Key, maxTTL time.Duration, fill cache.Fill) (cache.Entry, error)
	Put(ctx context.Context, key cache.Key, maxTTL time.Duration, conv *smartassistv1.Conversation)
}

// Watcher shares one upstream poller per watched conversation; *watch.Hub
// implements it.
type Watcher interface {
	Subscribe(ctx context.Context, key string, fetch watch.Fetch) <-chan watch.Update
}

// Options configure a ConversationServer. Upstream is required.
type Options struct {
	Upstream Upstream
	// Cache, when nil, sends every read upstream.
	Cache Cache
	// Watcher, when nil, gives every WatchConversation its own poller at
	// WatchInterval.
	Watcher       Watcher
	WatchInterval time.Duration
	// DefaultAccountID is sent when a request names no account.
	DefaultAccountID string
	// AllowedAccounts are the accounts a request may name when the
	// bridge's own credentials are used (nil: any, e.g. demo mode). With
	// AllowedAccountsForAll, pass-through callers are held to it too.
	AllowedAccounts       []string
	AllowedAccountsForAll bool
	// CallerAuth says callers authenticate to the bridge with
	// "Authorization: Bearer": then only the "auth" header carries a
	// SmartAssist token.
	CallerAuth bool
	// Decoder maps SmartAssist JSON to proto, bounding what one answer may
	// cost; nil means mapping.Conversation with its default limits.
	Decoder func([]byte) (*smartassistv1.Conversation, error)
	// MaxConcurrentDecodes bounds how many answers are decoded at once, so
	// that several hostile answers in parallel cannot add up; 0 means 4.
	MaxConcurrentDecodes int
	// MaxResponseBytes caps an encoded response message; 0 means 4 MiB.
	MaxResponseBytes int
	// Draining, when not nil, is closed when the server starts draining:
	// WatchConversation streams then end with UNAVAILABLE, which clients
	// resume on.
	Draining <-chan struct{}
	Logger   *slog.Logger
	Now      func() time.Time
}

// ConversationServer implements smartassistv1connect.ConversationServiceHandler.
type ConversationServer struct {
	upstream      Upstream
	cache         Cache
	watcher       Watcher
	accounts      accountPolicy
	callerAuth    bool
	decoder       func([]byte) (*smartassistv1.Conversation, error)
	decodeSlots   chan struct{}
	maxResponse   int
	draining      <-chan struct{}
	log           *slog.Logger
	now           func() time.Time
	watchInterval time.Duration
}

var _ smartassistv1connect.ConversationServiceHandler = (*ConversationServer)(nil)

// NewConversationServer returns the handlers.
func NewConversationServer(o Options) *ConversationServer {
	s := &ConversationServer{
		upstream:      o.Upstream,
		cache:         o.Cache,
		watcher:       o.Watcher,
		callerAuth:    o.CallerAuth,
		decoder:       o.Decoder,
		maxResponse:   o.MaxResponseBytes,
		draining:      o.Draining,
		log:           o.Logger,
		now:           o.Now,
		watchInterval: o.WatchInterval,
		accounts:      accountPolicy{defaultAccount: o.DefaultAccountID, everyone: o.AllowedAccountsForAll},
	}
	if o.AllowedAccounts != nil {
		s.accounts.allowed = map[string]bool{}
		for _, a := range o.AllowedAccounts {
			s.accounts.allowed[a] = true
		}
	}
	if s.decoder == nil {
		s.decoder = mapping.Conversation
	}
	slots := o.MaxConcurrentDecodes
	if slots <= 0 {
		slots = 4
	}
	s.decodeSlots = make(chan struct{}, slots)
	if s.maxResponse <= 0 {
		s.maxResponse = 4 << 20
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.watchInterval <= 0 {
		s.watchInterval = 2 * time.Second
	}
	if s.watcher == nil {
		s.watcher = watch.New(watch.Config{MinInterval: s.watchInterval, Retryable: RetryableWatchError, Logger: s.log})
	}
	return s
}

// call is what every RPC learns about its caller before doing anything.
type call struct {
	auth    upstreamAuth
	account string
	forward http.Header
	method  string // HTTP method, "GET" for a Connect GET
	header  *connect.Header
}

// begin validates the account and credentials of a call.
func (s *ConversationServer) begin(ctx context.Context, requestedAccount string) (call, error) {
	var c call
	h := new(connect.Header)
	if info, ok := connect.CallInfoForServerContext(ctx); ok {
		h = info.RequestHeader()
		c.header = info.ResponseHeader()
	}
	if info, ok := connecthttp.ServerInfoForContext(ctx); ok {
		c.method = info.HTTPMethod()
	}
	c.auth = authFor(h, s.callerAuth, s.now())
	for _, name := range smartassist.ForwardedHeaders {
		if v := h.Get(name); v != "" {
			if c.forward == nil {
				c.forward = http.Header{}
			}
			c.forward.Set(name, v)
		}
	}
	account, ok := s.accounts.account(requestedAccount, c.auth)
	if !ok {
		return c, accountNotAllowed(account)
	}
	c.account = account
	return c, nil
}

// GetConversation returns one conversation.
func (s *ConversationServer) GetConversation(ctx context.Context, req *smartassistv1.GetConversationRequest) (*smartassistv1.GetConversationResponse, error) {
	mask, err := validateGet(req)
	if err != nil {
		return nil, err
	}
	c, err := s.begin(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	entry, err := s.read(ctx, c, req.GetStreamId(), req.GetConversationId())
	if err != nil {
		return nil, err
	}
	conv, etag := entry.Conversation, entry.ETag
	if mask != nil {
		conv = mask.apply(conv)
		etag = mask.etag(etag)
	}
	resp := &smartassistv1.GetConversationResponse{Conversation: conv}
	size := getResponseSize(entry.Size)
	if mask != nil || entry.ETag == "" {
		size = proto.Size(resp)
	}
	if err := s.checkSize(size); err != nil {
		return nil, err
	}
	if c.header != nil && c.method == http.MethodGet && etag != "" {
		setCacheHeaders(c.header, etag, entry.Expires.Sub(s.now()))
	}
	return resp, nil
}

// read returns a conversation through the cache, fetching it on a miss.
func (s *ConversationServer) read(ctx context.Context, c call, streamID, conversationID string) (cache.Entry, error) {
	// A coalesced fetch outlives the caller who started it; that caller's
	// deadline still decides how long the fetch may wait for a quota slot.
	waitUntil, _ := ctx.Deadline()
	fill := func(ctx context.Context) (*smartassistv1.Conversation, error) {
		return s.fetch(ctx, c, streamID, conversationID, waitUntil)
	}
	// Without a cache, or for a pass-through token whose expiry cannot be
	// read (so an answer could outlive it), every read goes upstream.
	if s.cache == nil || c.auth.cacheTTL < 0 {
		conv, err := fill(ctx)
		if err != nil {
			return cache.Entry{}, err
		}
		return cache.Entry{Conversation: conv}, nil
	}
	entry, err := s.cache.Get(ctx, s.cacheKey(c, streamID, conversationID), c.auth.cacheTTL, fill)
	if err != nil {
		return cache.Entry{}, asConnectError(ctx, err)
	}
	return entry, nil
}

func (s *ConversationServer) cacheKey(c call, streamID, conversationID string) cache.Key {
	return cache.Key{Credential: c.auth.identity, Account: c.account, Stream: streamID, Conversation: conversationID}
}

// fetch calls SmartAssist once (with the client's retries) and decodes its
// answer. Its errors are the Connect errors callers see.
//
// waitUntil bounds the wait for a quota slot (zero: ctx's deadline).
func (s *ConversationServer) fetch(ctx context.Context, c call, streamID, conversationID string, waitUntil time.Time) (*smartassistv1.Conversation, error) {
	body, err := s.upstream.GetConversation(ctx, smartassist.Request{
		StreamID:       streamID,
		ConversationID: conversationID,
		AccountID:      c.account,
		Auth:           c.auth.token,
		Forward:        c.forward,
		QuotaWaitUntil: waitUntil,
	})
	if err != nil {
		return nil, upstreamError(ctx, streamID, conversationID, err)
	}
	return s.decode(ctx, body, streamID, conversationID)
}

// decode maps one SmartAssist conversation, at most MaxConcurrentDecodes
// at a time.
func (s *ConversationServer) decode(ctx context.Context, body []byte, streamID, conversationID string) (*smartassistv1.Conversation, error) {
	select {
	case s.decodeSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, asConnectError(ctx, ctx.Err())
	}
	conv, err := s.decoder(body)
	<-s.decodeSlots
	if err != nil {
		return nil, s.badUpstreamAnswer(ctx, err, len(body), streamID, conversationID)
	}
	return conv, nil
}

// badUpstreamAnswer reports an answer SmartAssist sent that the bridge
// cannot map. The cause (already bounded in length by the mapper) is for
// our logs; the caller learns that SmartAssist, not they, sent it.
func (s *ConversationServer) badUpstreamAnswer(ctx context.Context, err error, size int, streamID, conversationID string) error {
	s.log.ErrorContext(ctx, "smartassist sent an answer the bridge cannot map",
		slog.String("stream_id", streamID), slog.String("conversation_id", conversationID),
		slog.Int("bytes", size), slog.String("error", err.Error()))
	// SmartAssist did answer, so the ErrorInfo says with what status, as
	// for every other answer: Upstream returns a body only for a 2xx.
	meta := map[string]string{"httpStatus": "200"}
	if limit, ok := errors.AsType[*mapping.LimitError](err); ok {
		return newError(connect.CodeResourceExhausted,
			"SmartAssist's answer is larger than the bridge decodes (--max-upstream-values, 64 levels of nesting): "+limit.Error(),
			reasonUpstreamTooComplex, meta).WithCause(err)
	}
	return newError(connect.CodeInternal, "SmartAssist returned a conversation that is not valid JSON", reasonUpstreamBadResponse, meta).WithCause(err)
}

// getResponseSize is the encoded size of a GetConversationResponse whose
// conversation encodes to size bytes: its field 1, length-delimited. A
// cache entry knows its conversation's size (it was encoded for the
// ETag), which spares a hit measuring it again: 2-3 µs of the ~115 µs a
// hit costs (bench/run's bridge-hit rows).
func getResponseSize(size int) int {
	return protowire.SizeTag(1) + protowire.SizeBytes(size)
}

// checkSize refuses a response of size bytes when it is larger than
// MaxResponseBytes, before it is encoded and sent: a gRPC client would
// refuse it anyway, after the bridge had spent the work and the bandwidth.
func (s *ConversationServer) checkSize(size int) error {
	if size <= s.maxResponse {
		return nil
	}
	return newError(connect.CodeResourceExhausted,
		"the response would be "+strconv.Itoa(size)+" bytes, over the bridge's limit of "+strconv.Itoa(s.maxResponse)+
			" (--max-response-bytes); ask for fewer fields with read_mask",
		reasonResponseTooLarge, map[string]string{"size": strconv.Itoa(size), "limit": strconv.Itoa(s.maxResponse)})
}

// setCacheHeaders makes a Connect GET cacheable by the caller's browser
// (private: the answer depends on the credential) for what remains of the
// entry's life, revalidated with If-None-Match (see bridge's 304
// handling).
func setCacheHeaders(h *connect.Header, etag string, remaining time.Duration) {
	secs := max(int(remaining/time.Second), 0)
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age="+strconv.Itoa(secs))
	for _, v := range CredentialHeaders {
		h.Add("Vary", v)
	}
}

// CredentialHeaders are the request headers an answer depends on: a cache
// must key on them (Vary), and browsers may send them cross-origin (CORS).
var CredentialHeaders = []string{"Auth", "Authorization"}
