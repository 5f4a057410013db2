package smartassist

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ListRequest selects one page of a stream's conversations and carries the
// inbound call's credentials and trace headers.
//
// It maps onto SmartAssist's "List of Conversations" endpoint (Kore.ai docs,
// Koredotcom/docs docs/xo/apis/contact-center/list-of-conversations.md):
//
//	GET {host}/agentassist/api/v1/public/{streamId}/conversations?skip=&limit=&fields=&status=&source=&language=
//
// with headers auth and accountId, answered with
// {"results":[...],"skip":0,"limit":10,"hasMore":false,"totalPages":1,"totalResults":10}.
// The docs list skip, status, source and language in their parameter table;
// limit and fields appear only in the URL template, and none of the three
// multi-valued encodings is specified. The Client sends what Express-style
// servers (SmartAssist's) read without configuration:
//
//   - status as one repeated "status=" parameter per value (the docs call it
//     an array of ACTIVE, CLOSED, IDLE, OPEN, OVERDUE, TERMINATED);
//   - fields as a single comma-separated "fields=" value;
//   - only the parameters that are set: a zero Skip or Limit, an empty
//     Source, Language, Fields or Statuses sends nothing and leaves the
//     default (skip 0; the sample answer shows limit 10) to SmartAssist.
type ListRequest struct {
	StreamID string
	// AccountID is sent as the "accountId" header; empty sends none. It is
	// also the key under which Config.Budget counts the request.
	AccountID string
	// Auth is the inbound call's JWT, without "Bearer ". When set it is used
	// instead of Config.Tokens.
	Auth string
	// Forward holds headers to copy onto the upstream request, filtered as
	// Request.Forward is.
	Forward http.Header
	// Skip is how many conversations to skip; 0 sends none. Negative is
	// invalid.
	Skip int
	// Limit is the page size asked for; 0 sends none. Negative is invalid.
	Limit int
	// Fields names the conversation keys SmartAssist should return (e.g.
	// "status", "userInfo.caller"); empty returns every key. Each is a
	// token of 1 to 64 characters of [A-Za-z0-9._-]; at most 64 of them.
	Fields []string
	// Statuses keeps conversations in any of these states: ACTIVE, CLOSED,
	// IDLE, OPEN, OVERDUE or TERMINATED (upper case, as SmartAssist spells
	// them). Repeats are sent once.
	Statuses []string
	// Source keeps conversations of one channel, e.g. "rtm" or
	// "audiocodes"; Language those in one language, e.g. "en". Each is empty
	// or a token of 1 to 64 characters of [A-Za-z0-9._-].
	Source   string
	Language string
}

// conversationStatuses are the values ListRequest.Statuses accepts, from
// SmartAssist's documentation of the list endpoint.
var conversationStatuses = []string{"ACTIVE", "CLOSED", "IDLE", "OPEN", "OVERDUE", "TERMINATED"}

// ConversationStatuses returns the values ListRequest.Statuses accepts:
// ACTIVE, CLOSED, IDLE, OPEN, OVERDUE and TERMINATED.
func ConversationStatuses() []string { return slices.Clone(conversationStatuses) }

// Bounds on list parameters. A field path or a channel name is a short word
// in practice; the bounds keep a caller from pushing kilobytes into the
// upstream URL and our logs.
const (
	maxListTokenLen = 64
	maxListFields   = 64
)

// ListConversations fetches one page of a stream's conversations and returns
// the raw JSON body of SmartAssist's 2xx answer,
// {"results":[...],"skip","limit","hasMore","totalPages","totalResults"}.
// It shares GetConversation's authentication, quota budget, retries and
// error classification; every failure is an *Error with Op
// "list conversations".
func (c *Client) ListConversations(ctx context.Context, req ListRequest) ([]byte, error) {
	const op = "list conversations"
	q, err := req.query()
	if err != nil {
		return nil, &Error{Op: op, Kind: KindInvalidRequest, Err: err}
	}
	target := c.baseURL + publicPath + url.PathEscape(req.StreamID) + "/conversations"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	return c.do(ctx, call{
		op:      op,
		target:  target,
		account: req.AccountID,
		auth:    req.Auth,
		forward: req.Forward,
	})
}

// query validates r and returns its query parameters. Error messages name
// the field and quote at most a bounded prefix of a rejected value, never
// the token.
func (r ListRequest) query() (url.Values, error) {
	if err := ValidateID("stream_id", r.StreamID); err != nil {
		return nil, err
	}
	if r.AccountID != "" {
		if err := ValidateID("account_id", r.AccountID); err != nil {
			return nil, err
		}
	}
	if r.Auth != "" && !validHeaderValue(r.Auth) {
		return nil, errors.New("auth: contains characters not allowed in an HTTP header")
	}
	q := url.Values{}
	switch {
	case r.Skip < 0:
		return nil, fmt.Errorf("skip: must not be negative, got %d", r.Skip)
	case r.Skip > 0:
		q.Set("skip", strconv.Itoa(r.Skip))
	}
	switch {
	case r.Limit < 0:
		return nil, fmt.Errorf("limit: must not be negative, got %d", r.Limit)
	case r.Limit > 0:
		q.Set("limit", strconv.Itoa(r.Limit))
	}
	if len(r.Fields) > maxListFields {
		return nil, fmt.Errorf("fields: at most %d, got %d", maxListFields, len(r.Fields))
	}
	for i, f := range r.Fields {
		if err := validateListToken(fmt.Sprintf("fields[%d]", i), f); err != nil {
			return nil, err
		}
	}
	if len(r.Fields) > 0 {
		// A token cannot hold a comma, so the join is unambiguous.
		q.Set("fields", strings.Join(r.Fields, ","))
	}
	var statuses []string
	for i, s := range r.Statuses {
		if !slices.Contains(conversationStatuses, s) {
			return nil, fmt.Errorf("statuses[%d]: must be one of %s, got %s", i, strings.Join(conversationStatuses, ", "), quoteTruncated(s, maxEchoRunes))
		}
		if !slices.Contains(statuses, s) {
			statuses = append(statuses, s)
		}
	}
	if len(statuses) > 0 {
		q["status"] = statuses
	}
	for _, p := range []struct{ name, value string }{{"source", r.Source}, {"language", r.Language}} {
		if p.value == "" {
			continue
		}
		if err := validateListToken(p.name, p.value); err != nil {
			return nil, err
		}
		q.Set(p.name, p.value)
	}
	return q, nil
}

// validateListToken checks a list parameter value: 1 to 64 characters of
// [A-Za-z0-9._-], the characters that need no escaping in a query and
// cannot separate values.
func validateListToken(field, s string) error {
	if len(s) == 0 || len(s) > maxListTokenLen || !idChars(s) {
		return fmt.Errorf("%s: must be 1 to %d characters of [A-Za-z0-9._-], got %s", field, maxListTokenLen, quoteTruncated(s, maxEchoRunes))
	}
	return nil
}
