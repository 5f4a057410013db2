package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connectproto"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every error we author.
const ErrorDomain = "smartassist-bridge"

// ErrorInfo reasons: stable, UPPER_SNAKE_CASE, for clients to branch on.
const (
	reasonInternal            = "INTERNAL"
	reasonInvalidArgument     = "INVALID_ARGUMENT"
	reasonMissingCredentials  = "MISSING_CREDENTIALS"
	reasonNotFound            = "CONVERSATION_NOT_FOUND"
	reasonUpstreamBadRequest  = "UPSTREAM_BAD_REQUEST"
	reasonUnauthenticated     = "UPSTREAM_UNAUTHENTICATED"
	reasonPermissionDenied    = "UPSTREAM_PERMISSION_DENIED"
	reasonConflict            = "UPSTREAM_CONFLICT"
	reasonRateLimited         = "UPSTREAM_RATE_LIMITED"
	reasonUnavailable         = "UPSTREAM_UNAVAILABLE"
	reasonTimeout             = "UPSTREAM_TIMEOUT"
	reasonUpstreamRejected    = "UPSTREAM_REJECTED_REQUEST"
	reasonUpstreamTooLarge    = "UPSTREAM_RESPONSE_TOO_LARGE"
	reasonUpstreamBadResponse = "UPSTREAM_BAD_RESPONSE"
	reasonCanceled            = "CANCELED"
	reasonDeadlineExceeded    = "DEADLINE_EXCEEDED"
	reasonStreamNotFound      = "STREAM_NOT_FOUND"
	reasonQuotaExhausted      = "QUOTA_EXHAUSTED"
	reasonCredentials         = "CREDENTIALS_UNAVAILABLE"
	reasonAccountNotAllowed   = "ACCOUNT_NOT_ALLOWED"
	reasonResponseTooLarge    = "RESPONSE_TOO_LARGE"
	reasonUpstreamTooComplex  = "UPSTREAM_RESPONSE_TOO_COMPLEX"
	reasonDraining            = "DRAINING"
)

// statusRow is one row of the upstream-status table.
type statusRow struct {
	code    connect.Code
	reason  string
	message string // for the caller; %[1]q is the stream id, %[2]q the conversation id
}

// format returns the row's message for a request. Most messages name
// neither id, and fmt.Sprintf would append "%!(EXTRA ...)" to those, so
// only messages that name one are formatted.
func (r statusRow) format(streamID, conversationID string) string {
	if !strings.Contains(r.message, "%[") {
		return r.message
	}
	return fmt.Sprintf(r.message, streamID, conversationID)
}

// statusTable maps SmartAssist's HTTP status to a Connect code by meaning,
// not by transport: a 404 from SmartAssist means the conversation does not
// exist (not_found), where gRPC's transport-level HTTP mapping would say
// "unimplemented". The codes follow the HTTP mapping documented on each
// value of google.rpc.Code (googleapis google/rpc/code.proto), with 500
// and 502/503 as unavailable because they are retryable SmartAssist
// trouble (we already retried where safe), not a bug of ours.
var statusTable = map[int]statusRow{
	400: {connect.CodeInvalidArgument, reasonUpstreamBadRequest, "SmartAssist rejected the request for conversation %[2]q in stream %[1]q"},
	// 408: SmartAssist gave up waiting for our request; retried, then
	// as transient as a 503.
	408: {connect.CodeUnavailable, reasonUnavailable, "SmartAssist timed out reading the request (HTTP 408)"},
	401: {connect.CodeUnauthenticated, reasonUnauthenticated, "SmartAssist did not accept the credentials"},
	403: {connect.CodePermissionDenied, reasonPermissionDenied, "SmartAssist denied access to stream %[1]q"},
	404: {connect.CodeNotFound, reasonNotFound, "SmartAssist has no conversation %[2]q in stream %[1]q"},
	409: {connect.CodeAborted, reasonConflict, "SmartAssist reported a conflict reading conversation %[2]q"},
	429: {connect.CodeResourceExhausted, reasonRateLimited, "SmartAssist is rate-limiting requests"},
	500: {connect.CodeUnavailable, reasonUnavailable, "SmartAssist failed to answer (HTTP 500)"},
	502: {connect.CodeUnavailable, reasonUnavailable, "SmartAssist is unavailable (HTTP 502)"},
	503: {connect.CodeUnavailable, reasonUnavailable, "SmartAssist is unavailable (HTTP 503)"},
	504: {connect.CodeDeadlineExceeded, reasonTimeout, "SmartAssist timed out (HTTP 504)"},
}

// statusRowFor returns the row for an HTTP status, with the ranges the
// table does not list: another 4xx means our request was unacceptable to
// SmartAssist, which is our bug (internal); another 5xx is SmartAssist
// trouble (unavailable).
func statusRowFor(status int) statusRow {
	if row, ok := statusTable[status]; ok {
		return row
	}
	if status >= 500 {
		return statusRow{connect.CodeUnavailable, reasonUnavailable, "SmartAssist is unavailable (HTTP " + strconv.Itoa(status) + ")"}
	}
	return statusRow{connect.CodeInternal, reasonUpstreamRejected, "SmartAssist rejected the bridge's request (HTTP " + strconv.Itoa(status) + ")"}
}

// upstreamError translates a failed upstream call. Every error we return is
// authored here (connect v2 scrubs errors it did not author), carries an
// ErrorInfo, and names no token, secret or upstream body: SmartAssist's own
// error code and (already truncated) message travel in the ErrorInfo
// metadata.
//
// conversationID is empty for a list call.
func upstreamError(ctx context.Context, streamID, conversationID string, err error) *connect.Error {
	var ue *smartassist.Error
	if !errors.As(err, &ue) {
		return newError(connect.CodeInternal, "calling SmartAssist failed", reasonInternal, nil).WithCause(err)
	}
	meta := map[string]string{"attempts": strconv.Itoa(ue.Attempts)}
	if ue.HTTPStatus != 0 {
		meta["httpStatus"] = strconv.Itoa(ue.HTTPStatus)
	}
	if ue.UpstreamCode != "" {
		meta["upstreamCode"] = ue.UpstreamCode
	}
	if ue.UpstreamMsg != "" {
		meta["upstreamMessage"] = ue.UpstreamMsg
	}
	var cerr *connect.Error
	switch ue.Kind {
	case smartassist.KindStatus:
		row := statusRowFor(ue.HTTPStatus)
		if conversationID == "" && ue.HTTPStatus == 404 {
			row = statusRow{connect.CodeNotFound, reasonStreamNotFound, "SmartAssist has no stream %[1]q"}
		}
		cerr = newError(row.code, row.format(streamID, conversationID), row.reason, meta)
		if ue.HTTPStatus == 429 || (row.code == connect.CodeUnavailable && ue.RetryAfter > 0) {
			delay := ue.RetryAfter
			if delay <= 0 {
				delay = time.Second
			}
			cerr = withDetail(cerr, &errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
		}
	case smartassist.KindTransport:
		cerr = newError(connect.CodeUnavailable, "SmartAssist could not be reached", reasonUnavailable, meta)
	case smartassist.KindTimeout:
		// Our own deadline (the caller's, or --upstream-timeout) passed.
		cerr = newError(connect.CodeDeadlineExceeded, "SmartAssist did not answer before the deadline", reasonDeadlineExceeded, meta)
		if ctx.Err() == nil {
			cerr = newError(connect.CodeDeadlineExceeded, "SmartAssist did not answer within the bridge's upstream timeout", reasonTimeout, meta)
		}
	case smartassist.KindCanceled:
		cerr = newError(connect.CodeCanceled, "the call was canceled", reasonCanceled, meta)
	case smartassist.KindBodyTooLarge:
		cerr = newError(connect.CodeResourceExhausted, "SmartAssist's answer is larger than the bridge accepts (--max-upstream-bytes)", reasonUpstreamTooLarge, meta)
	case smartassist.KindBadBody:
		cerr = newError(connect.CodeInternal, "SmartAssist's answer could not be read", reasonUpstreamBadResponse, meta)
	case smartassist.KindNoCredentials:
		cerr = newError(connect.CodeUnauthenticated, "no SmartAssist credentials: send an auth or authorization: Bearer header, or configure the bridge with --client-id and --client-secret", reasonMissingCredentials, meta)
	case smartassist.KindQuotaExhausted:
		// The bridge's own guard: SmartAssist never saw this request.
		cerr = newError(connect.CodeResourceExhausted,
			"the account's SmartAssist request budget (--upstream-rate) has no free slot before this call's deadline; retry after the RetryInfo delay",
			reasonQuotaExhausted, meta)
		cerr = withDetail(cerr, &errdetails.RetryInfo{RetryDelay: durationpb.New(ue.RetryAfter)})
	case smartassist.KindTokenSource:
		// Our credentials could not be produced: the server's fault, not
		// the caller's.
		cerr = newError(connect.CodeInternal, "the bridge could not produce its SmartAssist credentials", reasonCredentials, meta)
	case smartassist.KindInvalidRequest:
		cerr = newError(connect.CodeInvalidArgument, "the request cannot be sent to SmartAssist", reasonInvalidArgument, meta)
	default:
		cerr = newError(connect.CodeInternal, "calling SmartAssist failed", reasonInternal, meta)
	}
	return cerr.WithCause(err)
}

// asConnectError returns err as the caller should see it: our own errors
// as they are, and the end of the call's context as CANCELED or
// DEADLINE_EXCEEDED.
func asConnectError(ctx context.Context, err error) error {
	if cerr, ok := errors.AsType[*connect.Error](err); ok {
		return cerr
	}
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(context.Cause(ctx), context.Canceled):
		return newError(connect.CodeCanceled, "the call was canceled", reasonCanceled, nil).WithCause(err)
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return newError(connect.CodeDeadlineExceeded, "the call's deadline passed before SmartAssist answered", reasonDeadlineExceeded, nil).WithCause(err)
	}
	return newError(connect.CodeInternal, "reading the conversation failed", reasonInternal, nil).WithCause(err)
}

// accountNotAllowed refuses an account the bridge may not read with the
// credentials at hand, before anything is sent.
func accountNotAllowed(account string) *connect.Error {
	msg := "account " + strconv.Quote(account) + " is not one the bridge serves (--allowed-accounts)"
	if account == "" {
		msg = "the request names no account_id and the bridge has no --account-id"
	}
	return newError(connect.CodePermissionDenied, msg, reasonAccountNotAllowed, nil)
}

// validateGet checks the ids before anything is sent anywhere: only the
// characters real SmartAssist ids use, so nothing can traverse paths or
// inject a query into the upstream URL.
func validateGet(req *smartassistv1.GetConversationRequest) (*readMask, error) {
	return validateOne(req.GetStreamId(), req.GetConversationId(), req.GetAccountId(), req.GetReadMask())
}

func validateWatch(req *smartassistv1.WatchConversationRequest) (*readMask, error) {
	return validateOne(req.GetStreamId(), req.GetConversationId(), req.GetAccountId(), req.GetReadMask())
}

func validateOne(streamID, conversationID, accountID string, m *fieldmaskpb.FieldMask) (*readMask, error) {
	fields := []struct {
		name, value string
		optional    bool
	}{
		{"stream_id", streamID, false},
		{"conversation_id", conversationID, false},
		{"account_id", accountID, true},
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
	mask, err := parseReadMask(m)
	if err != nil {
		problems = append(problems, fieldProblem{field: "read_mask", err: fmt.Errorf("read_mask: %w", err)})
	}
	if len(problems) > 0 {
		return nil, invalidArgument(problems)
	}
	return mask, nil
}

// fieldProblem is one invalid request field.
type fieldProblem struct {
	field string
	err   error
}

// invalidArgument reports bad request fields, with a google.rpc.BadRequest
// detail naming each.
func invalidArgument(problems []fieldProblem) *connect.Error {
	msgs := make([]string, len(problems))
	violations := make([]*errdetails.BadRequest_FieldViolation, len(problems))
	for i, p := range problems {
		msgs[i] = p.err.Error()
		violations[i] = &errdetails.BadRequest_FieldViolation{Field: p.field, Description: p.err.Error()}
	}
	cerr := newError(connect.CodeInvalidArgument, strings.Join(msgs, "; "), reasonInvalidArgument, nil)
	return withDetail(cerr, &errdetails.BadRequest{FieldViolations: violations})
}

func newError(code connect.Code, msg, reason string, meta map[string]string) *connect.Error {
	return withDetail(connect.NewError(code, msg), &errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: meta})
}

func withDetail(cerr *connect.Error, detail proto.Message) *connect.Error {
	d, err := connectproto.NewErrorDetail(detail)
	if err != nil {
		return cerr // a detail we cannot encode is a bug; the error still stands
	}
	return cerr.WithDetail(d)
}
