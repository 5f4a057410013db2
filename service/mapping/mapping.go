// Package mapping turns SmartAssist's REST JSON into the typed proto model
// of smartassist.v1, without losing anything.
//
// The mapping is driven by the proto descriptors alone: a field's upstream
// key is its JSON name or its (smartassist.v1.upstream_key) option, and how
// its value is read follows from its type (see the rules in
// proto/smartassist/v1/conversation.proto). Adding a field, or a whole
// resource, is a proto change; no decoder is written by hand.
//
// Every upstream key the model does not name, and every value that cannot
// be read as its field's type, is kept verbatim in the message's catch-all
// Struct (the field marked (smartassist.v1.catch_all)). Only malformed JSON
// is an error, a *SyntaxError saying where; a document over one of the
// Limits is a *LimitError naming it. No input makes Unmarshal panic.
//
// # Repeated keys
//
// JSON allows a key twice in one object; SmartAssist's own JavaScript would
// keep the last. Nothing may be lost, so each member goes, in document
// order, to its field if its key names one that no earlier member of the
// object took, and otherwise to the catch-all under the first of key,
// key#2, key#3, … that no earlier member took. A member takes the name it is
// stored under; a field's key is taken by the member that filled it (or set
// it to null). So {"status":"A","status":"B"} reads as status "A" and
// unmapped {"status#2": "B"}. Objects kept verbatim (in a Struct or Value)
// follow the same naming.
//
// # Design
//
// Unmarshal makes two passes over the bytes. The first (check.go) builds
// nothing: it validates the JSON and enforces MaxDepth and MaxValues, so a
// malformed or hostile document is rejected for the cost of a scan, before
// a single message is allocated, with an error that names the path where it
// went wrong. The second (decode.go) walks the message by its descriptors,
// as protobuf-go's protojson does: read a key, find the field, Set it, or
// fill Mutable(...).List(). Message fields go through the protoreflect API
// only, so the same code reads generated and dynamicpb messages, and no
// mistake in it can write outside a Go value. Both passes share a small
// scanner (scan.go) that reads by byte offset: "this value does not fit
// its field, keep it verbatim instead" is a rewind of the offset and a
// Clear of the field, which a token stream (encoding/json's Decoder)
// cannot do without buffering every value; number literals are kept as
// text, so integers, durations and epoch milliseconds are read exactly.
//
// Optimisations kept, and why: the scanner returns strings that alias the
// input, so a key lookup does not allocate; each message type's key table
// is built once from its descriptor; the document is copied to one string
// once, and every string without escapes is a plain substring of it. That
// saves ~15% CPU and a quarter of the allocations; the price is that a
// kept message keeps the document's text alive, about what its strings
// would take as separate copies. The first pass costs ~25% of a decode (it
// scans at ~300 MB/s): the price of rejecting hostile documents before
// allocating. encoding/json's Decoder.Token was measured and ruled out:
// 15-30x slower than that scan, with an allocation per token. Dropped,
// because they did not earn their lines: writing through generated structs' field offsets, a second
// decoding path through wire format, learning the key order (6-10% on the
// old path), a string arena (one kept string pinned a 16 KiB chunk), pooled
// buffers, and a hand-written calendar parser (time.Parse costs ~17 ns more
// per timestamp, 13 timestamps in the sample).
package mapping

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

// Defaults of Limits. A real conversation has about 28 bytes of JSON per
// value (the documented one: 5 KiB, nesting 5 deep; the 1 MiB generated
// one: 37,500 values), so DefaultMaxValues admits realistic conversations
// of about 7 MiB, close to the upstream client's 8 MiB body cap, while a
// body of tiny values ("0," or "{}," repeated millions of times) is cut off
// before it is decoded. The worst document within the default, 250,000
// empty participants (750 KB), allocates 67 MiB as messages (measured);
// lower MaxValues where that is too much per call.
const (
	DefaultMaxBytes  = 64 << 20
	DefaultMaxDepth  = 64
	DefaultMaxValues = 250_000
)

// Limits bound what one document may cost. A zero field means its default.
type Limits struct {
	// MaxBytes is the largest document accepted, in bytes.
	MaxBytes int
	// MaxDepth is the deepest nesting of objects and arrays accepted.
	MaxDepth int
	// MaxValues is the most JSON values a document may hold: objects,
	// arrays, strings, numbers, booleans and nulls, counting every array
	// element and member value (not keys), and the document itself.
	MaxValues int
}

func (l Limits) orDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxValues <= 0 {
		l.MaxValues = DefaultMaxValues
	}
	return l
}

// LimitError reports a document over one of its Limits. Match it with
// errors.As: it means the document is too large to map, not malformed.
type LimitError struct {
	Limit  string // "MaxBytes", "MaxDepth" or "MaxValues"
	Value  int    // the limit in force
	Offset int    // byte offset in the document where it was exceeded
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("smartassist json: document over its limit %s=%d at offset %d", e.Limit, e.Value, e.Offset)
}

// Conversation maps the body of SmartAssist's "Get a specific Conversation"
// answer, within the default Limits.
func Conversation(body []byte) (*smartassistv1.Conversation, error) {
	return ConversationWithLimits(body, Limits{})
}

// ConversationWithLimits is Conversation within the given Limits.
func ConversationWithLimits(body []byte, l Limits) (*smartassistv1.Conversation, error) {
	c := new(smartassistv1.Conversation)
	if err := UnmarshalWithLimits(body, c, l); err != nil {
		return nil, err
	}
	return c, nil
}

// Unmarshal resets m and fills it from data, a JSON object as SmartAssist
// sends it, within the default Limits. m's message type must follow the
// smartassist.v1 conventions; any generated message does, as does a
// dynamicpb message of one.
func Unmarshal(data []byte, m proto.Message) error {
	return UnmarshalWithLimits(data, m, Limits{})
}

// UnmarshalWithLimits is Unmarshal within the given Limits. On error m is
// left reset.
func UnmarshalWithLimits(data []byte, m proto.Message, l Limits) error {
	proto.Reset(m)
	l = l.orDefaults()
	if len(data) > l.MaxBytes {
		return &LimitError{Limit: "MaxBytes", Value: l.MaxBytes, Offset: l.MaxBytes}
	}
	if err := check(data, l); err != nil {
		return err
	}
	d := decoder{scanner: scanner{data: data}, text: string(data)}
	d.skipSpace()
	if err := d.object(m.ProtoReflect()); err != nil {
		// check accepted the document, so only a bug in this package
		// gets here; say so rather than blame the input.
		proto.Reset(m)
		return fmt.Errorf("smartassist json: internal error after validation: %w", err)
	}
	return nil
}
