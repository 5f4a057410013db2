package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
)

// Page sizes of ListConversations (AIP-158): 0 asks for the default, and
// more than the maximum is coerced down rather than refused.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

// ListConversations returns one page of a stream's conversations. Each
// page is one SmartAssist call under the account's quota, and its
// conversations warm the cache for GetConversation.
func (s *ConversationServer) ListConversations(ctx context.Context, req *smartassistv1.ListConversationsRequest) (*smartassistv1.ListConversationsResponse, error) {
	mask, pageSize, skip, err := validateList(req)
	if err != nil {
		return nil, err
	}
	c, err := s.begin(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	statuses := normalizedStatuses(req.GetStatuses())
	fields := mask.upstreamFields()
	body, err := s.upstream.ListConversations(ctx, smartassist.ListRequest{
		StreamID:  req.GetStreamId(),
		AccountID: c.account,
		Auth:      c.auth.token,
		Forward:   c.forward,
		Skip:      skip,
		Limit:     pageSize,
		Fields:    fields,
		Statuses:  statuses,
		Source:    req.GetSource(),
		Language:  req.GetLanguage(),
	})
	if err != nil {
		return nil, upstreamError(ctx, req.GetStreamId(), "", err)
	}
	page, err := readListPage(body)
	if err != nil {
		return nil, s.badUpstreamAnswer(ctx, err, len(body), req.GetStreamId(), "")
	}
	resp := &smartassistv1.ListConversationsResponse{TotalSize: page.total}
	for _, raw := range page.results {
		conv, err := s.decode(ctx, raw, req.GetStreamId(), "")
		if err != nil {
			return nil, err
		}
		// Only whole conversations may stand in for GetConversation.
		if s.cache != nil && fields == nil && conv.GetId() != "" && smartassist.ValidateID("conversation_id", conv.GetId()) == nil {
			s.cache.Put(ctx, s.cacheKey(c, req.GetStreamId(), conv.GetId()), c.auth.cacheTTL, conv)
		}
		if mask != nil {
			conv = mask.apply(conv)
		}
		resp.Conversations = append(resp.Conversations, conv)
	}
	next := skip + len(page.results)
	if len(page.results) > 0 && (page.hasMore || (page.total > 0 && int64(next) < int64(page.total))) {
		resp.NextPageToken = encodePageToken(next, listFilterDigest(req))
	}
	if err := s.checkSize(proto.Size(resp)); err != nil {
		return nil, err
	}
	return resp, nil
}

// listPage is the part of SmartAssist's list answer the bridge reads:
// {"results":[...],"skip","limit","hasMore","totalPages","totalResults"}.
type listPage struct {
	results []json.RawMessage
	hasMore bool
	total   int32
}

func readListPage(body []byte) (listPage, error) {
	var raw struct {
		Results      []json.RawMessage `json:"results"`
		HasMore      *bool             `json:"hasMore"`
		TotalResults *json.Number      `json:"totalResults"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return listPage{}, fmt.Errorf("list answer: %w", err)
	}
	page := listPage{results: raw.Results}
	if raw.HasMore != nil {
		page.hasMore = *raw.HasMore
	}
	if raw.TotalResults != nil {
		n, err := raw.TotalResults.Int64()
		if err != nil || n < 0 || n > 1<<31-1 {
			return listPage{}, errors.New("list answer: totalResults is not a count")
		}
		page.total = int32(n)
	}
	return page, nil
}

// listStatuses are SmartAssist's conversation states, the values the
// list endpoint's status filter takes.
var listStatuses = []string{"ACTIVE", "CLOSED", "IDLE", "OPEN", "OVERDUE", "TERMINATED"}

func normalizedStatuses(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, st := range in {
		out[i] = strings.ToUpper(strings.TrimSpace(st))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// validateList checks a list request and reads its page token.
func validateList(req *smartassistv1.ListConversationsRequest) (mask *readMask, pageSize, skip int, err error) {
	var problems []fieldProblem
	check := func(field, value string, optional bool) {
		if optional && value == "" {
			return
		}
		if err := smartassist.ValidateID(field, value); err != nil {
			problems = append(problems, fieldProblem{field: field, err: err})
		}
	}
	check("stream_id", req.GetStreamId(), false)
	check("account_id", req.GetAccountId(), true)
	check("source", req.GetSource(), true)
	check("language", req.GetLanguage(), true)
	switch size := req.GetPageSize(); {
	case size < 0:
		problems = append(problems, fieldProblem{field: "page_size", err: fmt.Errorf("page_size must not be negative, got %d", size)})
	case size == 0:
		pageSize = defaultPageSize
	default:
		pageSize = min(int(size), maxPageSize)
	}
	if len(req.GetStatuses()) > len(listStatuses) {
		problems = append(problems, fieldProblem{field: "statuses", err: fmt.Errorf("at most %d statuses", len(listStatuses))})
	} else {
		for _, st := range normalizedStatuses(req.GetStatuses()) {
			if !slices.Contains(listStatuses, st) {
				problems = append(problems, fieldProblem{field: "statuses", err: fmt.Errorf("statuses: %.32q is not one of %s", st, strings.Join(listStatuses, ", "))})
			}
		}
	}
	mask, maskErr := parseReadMask(req.GetReadMask())
	if maskErr != nil {
		problems = append(problems, fieldProblem{field: "read_mask", err: fmt.Errorf("read_mask: %w", maskErr)})
	}
	if len(problems) == 0 && req.GetPageToken() != "" {
		var tokErr error
		skip, tokErr = decodePageToken(req.GetPageToken(), listFilterDigest(req))
		if tokErr != nil {
			problems = append(problems, fieldProblem{field: "page_token", err: tokErr})
		}
	}
	if len(problems) > 0 {
		return nil, 0, 0, invalidArgument(problems)
	}
	return mask, pageSize, skip, nil
}

// listFilterDigest names what a page token is bound to: the stream, the
// account and every filter. A token used with another of these is
// refused.
func listFilterDigest(req *smartassistv1.ListConversationsRequest) string {
	h := sha256.New()
	for _, part := range []string{req.GetStreamId(), req.GetAccountId(), strings.Join(normalizedStatuses(req.GetStatuses()), ","), req.GetSource(), req.GetLanguage()} {
		fmt.Fprintf(h, "%d:%s;", len(part), part)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// A page token is opaque to clients: base64url of {"o":offset,"f":digest}
// followed by a checksum. It carries a position, never a permission: every
// page re-checks the caller's credentials and account like a first page,
// so a token is valid on any replica and grants nothing. The checksum
// catches edited tokens (it is not a secret: forging one gains nothing a
// caller could not ask for with a page_size).
type pageToken struct {
	Offset int    `json:"o"`
	Filter string `json:"f"`
}

const maxPageTokenLen = 256

func encodePageToken(offset int, filter string) string {
	payload, _ := json.Marshal(pageToken{Offset: offset, Filter: filter})
	sum := sha256.Sum256(payload)
	return base64.RawURLEncoding.EncodeToString(append(payload, sum[:8]...))
}

func decodePageToken(tok, filter string) (int, error) {
	invalid := errors.New("page_token is not a token this API issued")
	if len(tok) > maxPageTokenLen {
		return 0, invalid
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) <= 8 {
		return 0, invalid
	}
	payload, sum := b[:len(b)-8], b[len(b)-8:]
	want := sha256.Sum256(payload)
	if !bytes.Equal(sum, want[:8]) {
		return 0, invalid
	}
	var pt pageToken
	if err := json.Unmarshal(payload, &pt); err != nil || pt.Offset < 0 || pt.Offset > 1_000_000 {
		return 0, invalid
	}
	if pt.Filter != filter {
		return 0, errors.New("page_token belongs to a listing with other filters (stream, account, statuses, source or language): start again without it")
	}
	return pt.Offset, nil
}
