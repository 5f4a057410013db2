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
// is an error, a *SyntaxError saying where. Input is bounded by MaxBytes and
// MaxDepth, and no input makes Unmarshal panic.
//
// How: plans built once per message type from the descriptors (and, for
// generated types, the structs' field offsets) guide one pass over the
// JSON that writes each value straight into the generated Go struct (see
// direct.go). Types without generated structs go through a second path
// that transcodes to protobuf wire format and lets proto.Unmarshal build
// the message; a differential fuzz test holds the two to one answer.
// "This value does not fit, keep it verbatim instead" is a rewind of the
// scanner and a reset of the field.
//
// A key repeated in one object: the last one wins (the wire path follows
// protobuf merge semantics instead). Nothing is dropped either way.
package mapping

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

// Conversation maps the body of SmartAssist's "Get a specific Conversation"
// answer.
func Conversation(data []byte) (*smartassistv1.Conversation, error) {
	c := new(smartassistv1.Conversation)
	if err := Unmarshal(data, c); err != nil {
		return nil, err
	}
	return c, nil
}

// transcoders are reused: the output buffer and the unescape scratch space
// are the only allocations of the JSON pass.
var transcoders = sync.Pool{New: func() any { return new(transcoder) }}

// maxPooledBuffer keeps one huge document from pinning its buffer forever;
// below it, buffers are reused so that a large conversation does not grow
// (and clear) a fresh buffer every time.
const maxPooledBuffer = 8 << 20

// Unmarshal resets m and fills it from data, a JSON object as SmartAssist
// sends it. m's message type must follow the smartassist.v1 conventions; any
// generated message does.
func Unmarshal(data []byte, m proto.Message) error {
	proto.Reset(m)
	if len(data) > MaxBytes {
		return &SyntaxError{Msg: fmt.Sprintf("document of %d bytes is over the %d-byte limit", len(data), MaxBytes), Line: 1, Column: 1}
	}
	if p, ok := directFor(m); ok {
		return unmarshalDirect(data, m, p)
	}
	return unmarshalWire(data, m)
}

// unmarshalWire is Unmarshal through wire format, for message types
// without a direct plan.
func unmarshalWire(data []byte, m proto.Message) error {
	t := transcoders.Get().(*transcoder)
	defer func() {
		t.s.data = nil
		if cap(t.out) <= maxPooledBuffer && cap(t.s.buf) <= maxPooledBuffer {
			transcoders.Put(t)
		}
	}()
	t.s = scanner{data: data, buf: t.s.buf[:0]}
	t.out = t.out[:0]
	if cap(t.out) < len(data) {
		// The wire form is smaller than the JSON (no quotes, no key names),
		// so one allocation this size avoids growing the buffer by doubling.
		t.out = make([]byte, 0, len(data))
	}

	s := &t.s
	if err := checkTopLevel(s); err != nil {
		return err
	}
	if err := t.object(planFor(m.ProtoReflect().Descriptor())); err != nil {
		if se, ok := err.(*SyntaxError); ok {
			se.Path = "$" + se.Path
		}
		return err
	}
	if !s.atEnd() {
		return s.errorf(s.pos, "unexpected %s after the top-level object", s.describe(s.pos))
	}
	if err := proto.Unmarshal(t.out, m); err != nil {
		// Only a bug in the transcoder gets here; say so rather than guess.
		return fmt.Errorf("smartassist json: internal error decoding transcoded message: %w", err)
	}
	return nil
}

var directs = sync.Pool{New: func() any { return new(direct) }}

// unmarshalDirect is Unmarshal for message types with a direct plan.
func unmarshalDirect(data []byte, m proto.Message, p *messagePlan) error {
	d := directs.Get().(*direct)
	defer func() {
		d.s.data = nil
		if cap(d.s.buf) <= maxPooledBuffer {
			directs.Put(d)
		}
	}()
	d.s = scanner{data: data, buf: d.s.buf[:0]}
	s := &d.s
	if err := checkTopLevel(s); err != nil {
		return err
	}
	err := d.object(p, reflect.ValueOf(m).UnsafePointer())
	if err == nil && !s.atEnd() {
		err = s.errorf(s.pos, "unexpected %s after the top-level object", s.describe(s.pos))
	}
	if err != nil {
		proto.Reset(m) // nothing half-read is left behind
		if se, ok := err.(*SyntaxError); ok && !strings.HasPrefix(se.Path, "$") {
			se.Path = "$" + se.Path
		}
		return err
	}
	return nil
}

// checkTopLevel accepts only a JSON object as the document.
func checkTopLevel(s *scanner) error {
	if s.atEnd() {
		return s.errorf(s.pos, "empty document, want a JSON object")
	}
	switch c := s.peek(); c {
	case '{':
		return nil
	default:
		return s.errorf(s.pos, "top-level value is %s, want a JSON object", an(kindAt(c)))
	}
}

func an(kind string) string {
	switch kind[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + kind
	}
	return "a " + kind
}

// within prefixes the path of a SyntaxError as it travels up the document.
func within(err error, segment string) error {
	if se, ok := err.(*SyntaxError); ok {
		se.Path = segment + se.Path
	}
	return err
}

// transcoder reads JSON with s and writes protobuf wire format to out.
type transcoder struct {
	s   scanner
	out []byte
}

// begin starts a length-delimited field and returns where its content
// starts. One byte is reserved for the length, which end widens if needed.
func (t *transcoder) begin(num protowire.Number) int {
	t.out = protowire.AppendTag(t.out, num, protowire.BytesType)
	t.out = append(t.out, 0)
	return len(t.out)
}

// end writes the length of the field begun at start.
func (t *transcoder) end(start int) {
	n := len(t.out) - start
	if n < 0x80 {
		t.out[start-1] = byte(n)
		return
	}
	k := protowire.SizeVarint(uint64(n))
	for range k - 1 {
		t.out = append(t.out, 0)
	}
	copy(t.out[start-1+k:], t.out[start:start+n])
	protowire.AppendVarint(t.out[:start-1], uint64(n))
}

// object transcodes the JSON object at the scanner into the fields of the
// message that p plans.
func (t *transcoder) object(p *messagePlan) error {
	s := &t.s
	learn := &p.first // where the key order seen so far is remembered
	return s.members(func(k []byte, keyAt int) error {
		fp := p.lookup(k, &learn)
		if fp == nil {
			if err := t.unmapped(p, k); err != nil {
				return within(err, "."+s.keyAt(keyAt))
			}
			return nil
		}
		mark, start, depth := len(t.out), s.pos, s.depth
		fits, err := t.field(fp)
		if err != nil {
			return within(err, "."+fp.key)
		}
		if !fits {
			// Not of the field's type: keep it verbatim instead.
			t.out = t.out[:mark]
			s.pos, s.depth = start, depth
			if err := t.unmapped(p, []byte(fp.key)); err != nil {
				return within(err, "."+fp.key)
			}
		}
		return nil
	})
}

// unmapped writes the value at the scanner into the catch-all Struct under
// key. key may alias the scanner's scratch space: it is written out before
// the value is read.
func (t *transcoder) unmapped(p *messagePlan, key []byte) error {
	if p.catchAll == 0 {
		// The message keeps no extras: read the value and let it go.
		mark := len(t.out)
		err := t.value()
		t.out = t.out[:mark]
		return err
	}
	all := t.begin(p.catchAll)
	err := t.structEntry(key)
	t.end(all)
	return err
}

// structEntry writes one entry of a Struct's fields map: key, then the
// value at the scanner.
func (t *transcoder) structEntry(key []byte) error {
	entry := t.begin(1) // Struct.fields
	t.out = protowire.AppendTag(t.out, 1, protowire.BytesType)
	t.out = protowire.AppendBytes(t.out, key)
	val := t.begin(2)
	err := t.value()
	t.end(val)
	t.end(entry)
	return err
}

// field transcodes the value at the scanner into field fp. It reports
// fits=false, having possibly consumed input and written output, when the
// value is not of the field's type; the caller rewinds both.
func (t *transcoder) field(fp *fieldPlan) (fits bool, err error) {
	s := &t.s
	c := s.peek()
	if c == 'n' {
		// null means "not set", for every field.
		return true, s.literal("null")
	}
	if fp.list {
		if c != '[' {
			return false, nil
		}
		return t.list(fp)
	}
	return t.one(fp, c)
}

func (t *transcoder) list(fp *fieldPlan) (fits bool, err error) {
	return t.s.list(func(c byte) (bool, error) { return t.one(fp, c) })
}

// one transcodes one value of field fp, starting with byte c: the field's
// value, or one element of a repeated field (which the wire format writes
// alike).
func (t *transcoder) one(fp *fieldPlan, c byte) (fits bool, err error) {
	switch fp.kind {
	case kindMessage:
		if c != '{' {
			return false, nil
		}
		start := t.begin(fp.num)
		err := t.object(fp.msg)
		t.end(start)
		return true, err
	case kindUnsupported:
		return false, nil
	}
	return t.scalar(fp.num, fp.kind, c)
}

// scalar transcodes a value of a non-message kind, or of a well-known type
// that is a value in JSON, starting with byte c, as field num.
func (t *transcoder) scalar(num protowire.Number, k kind, c byte) (fits bool, err error) {
	s := &t.s
	switch k {
	case kindString:
		if c != '"' {
			return false, nil
		}
		b, err := s.stringBytes()
		if err != nil {
			return false, err
		}
		t.out = protowire.AppendTag(t.out, num, protowire.BytesType)
		t.out = protowire.AppendBytes(t.out, b)
		return true, nil
	case kindBool:
		v, fits, err := readBool(s, c)
		if !fits || err != nil {
			return false, err
		}
		t.out = protowire.AppendTag(t.out, num, protowire.VarintType)
		t.out = protowire.AppendVarint(t.out, protowire.EncodeBool(v))
		return true, nil
	case kindInt32, kindInt64:
		n, fits, err := readInt(s, c, k == kindInt32)
		if !fits || err != nil {
			return false, err
		}
		t.out = protowire.AppendTag(t.out, num, protowire.VarintType)
		t.out = protowire.AppendVarint(t.out, uint64(n))
		return true, nil
	case kindDouble:
		f, fits, err := readDouble(s, c)
		if !fits || err != nil {
			return false, err
		}
		t.out = protowire.AppendTag(t.out, num, protowire.Fixed64Type)
		t.out = protowire.AppendFixed64(t.out, math.Float64bits(f))
		return true, nil
	case kindTimestamp:
		sec, nsec, fits, err := readInstant(s, c)
		if !fits || err != nil {
			return false, err
		}
		t.secondsNanos(num, sec, nsec)
		return true, nil
	case kindDuration:
		sec, nsec, fits, err := readMillis(s, c)
		if !fits || err != nil {
			return false, err
		}
		t.secondsNanos(num, sec, nsec)
		return true, nil
	case kindValue:
		start := t.begin(num)
		err := t.value()
		t.end(start)
		return err == nil, err
	case kindStruct:
		if c != '{' {
			return false, nil
		}
		start := t.begin(num)
		err := t.structFields()
		t.end(start)
		return err == nil, err
	}
	return false, nil
}

// secondsNanos writes a Timestamp or Duration, whose wire forms agree.
func (t *transcoder) secondsNanos(num protowire.Number, sec int64, nsec int32) {
	start := t.begin(num)
	if sec != 0 {
		t.out = protowire.AppendTag(t.out, 1, protowire.VarintType)
		t.out = protowire.AppendVarint(t.out, uint64(sec))
	}
	if nsec != 0 {
		t.out = protowire.AppendTag(t.out, 2, protowire.VarintType)
		t.out = protowire.AppendVarint(t.out, uint64(int64(nsec)))
	}
	t.end(start)
}

// readNumeric reads a number, or a string holding one (SmartAssist sends
// priority as 5 in one place and "5" in another), and returns its literal.
func readNumeric(s *scanner, c byte) (lit []byte, fits bool, err error) {
	switch {
	case c == '-' || isDigit(c):
		lit, err = s.number()
		return lit, err == nil, err
	case c == '"':
		lit, err = s.stringBytes()
		return lit, err == nil, err
	}
	return nil, false, nil
}

// readInt reads an integer (or a decimal string of one; see readNumeric),
// reporting fits=false for a fraction or a value out of range.
func readInt(s *scanner, c byte, is32 bool) (n int64, fits bool, err error) {
	lit, fits, err := readNumeric(s, c)
	if !fits || err != nil {
		return 0, false, err
	}
	n, ok := scaledInt(lit, 0)
	if !ok || (is32 && int64(int32(n)) != n) {
		return 0, false, nil
	}
	return n, true, nil
}

// readDouble reads a JSON number, reporting fits=false when a double would
// change what it means (see exactDouble): the literal is kept instead.
func readDouble(s *scanner, c byte) (f float64, fits bool, err error) {
	if c != '-' && !isDigit(c) {
		return 0, false, nil
	}
	lit, err := s.number()
	if err != nil {
		return 0, false, err
	}
	f, ok := exactDouble(lit)
	return f, ok, nil
}

// readMillis reads an amount of milliseconds (a number or a numeric
// string) as a Duration's seconds and nanos, which carry the same sign; a
// fraction of a nanosecond does not fit.
func readMillis(s *scanner, c byte) (sec int64, nsec int32, fits bool, err error) {
	lit, fits, err := readNumeric(s, c)
	if !fits || err != nil {
		return 0, 0, false, err
	}
	ns, ok := scaledInt(lit, 6) // milliseconds -> nanoseconds
	if !ok {
		return 0, 0, false, nil
	}
	return ns / 1e9, int32(ns % 1e9), true, nil
}

// readBool reads true/false, or the words SmartAssist uses for booleans in
// some fields ("YES"/"NO" in any case, and "true"/"false" as strings).
func readBool(s *scanner, c byte) (v, fits bool, err error) {
	switch c {
	case 't':
		return true, true, s.literal("true")
	case 'f':
		return false, true, s.literal("false")
	case '"':
		b, err := s.stringBytes()
		if err != nil {
			return false, false, err
		}
		switch {
		case equalFoldASCII(b, "yes"), equalFoldASCII(b, "true"):
			return true, true, nil
		case equalFoldASCII(b, "no"), equalFoldASCII(b, "false"):
			return false, true, nil
		}
	}
	return false, false, nil
}

// Valid Timestamp seconds: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// readInstant reads an RFC 3339 (ISO-8601) string, or a number of
// milliseconds since the Unix epoch as in "timestampValue".
func readInstant(s *scanner, c byte) (sec int64, nsec int32, fits bool, err error) {
	switch {
	case c == '"':
		b, err := s.stringBytes()
		if err != nil {
			return 0, 0, false, err
		}
		sec, nsec, ok := parseTime(b)
		return sec, nsec, ok && sec >= minTimestampSeconds && sec <= maxTimestampSeconds, nil
	case c == '-' || isDigit(c):
		lit, err := s.number()
		if err != nil {
			return 0, 0, false, err
		}
		ns, ok := scaledInt(lit, 6) // milliseconds -> nanoseconds
		if !ok {
			return 0, 0, false, nil
		}
		sec, n := ns/1e9, ns%1e9
		if n < 0 { // Timestamp nanos are never negative
			sec, n = sec-1, n+1e9
		}
		if sec < minTimestampSeconds || sec > maxTimestampSeconds {
			return 0, 0, false, nil
		}
		return sec, int32(n), true, nil
	}
	return 0, 0, false, nil
}

// value transcodes any JSON value into the content of a
// google.protobuf.Value.
func (t *transcoder) value() error {
	s := &t.s
	switch c := s.peek(); {
	case c == '{':
		start := t.begin(5) // Value.struct_value
		err := t.structFields()
		t.end(start)
		return err
	case c == '[':
		start := t.begin(6) // Value.list_value
		err := t.listValues()
		t.end(start)
		return err
	case c == '"':
		b, err := s.stringBytes()
		if err != nil {
			return err
		}
		t.out = protowire.AppendTag(t.out, 3, protowire.BytesType) // Value.string_value
		t.out = protowire.AppendBytes(t.out, b)
		return nil
	case c == 't' || c == 'f':
		v, _, err := readBool(s, c)
		t.out = protowire.AppendTag(t.out, 4, protowire.VarintType) // Value.bool_value
		t.out = protowire.AppendVarint(t.out, protowire.EncodeBool(v))
		return err
	case c == 'n':
		t.out = protowire.AppendTag(t.out, 1, protowire.VarintType) // Value.null_value
		t.out = protowire.AppendVarint(t.out, 0)
		return s.literal("null")
	case c == '-' || isDigit(c):
		lit, err := s.number()
		if err != nil {
			return err
		}
		if f, ok := exactDouble(lit); ok {
			t.out = protowire.AppendTag(t.out, 2, protowire.Fixed64Type) // Value.number_value
			t.out = protowire.AppendFixed64(t.out, math.Float64bits(f))
		} else {
			t.out = protowire.AppendTag(t.out, 3, protowire.BytesType) // kept as text
			t.out = protowire.AppendBytes(t.out, lit)
		}
		return nil
	default:
		return s.errorf(s.pos, "expected a JSON value, found %s", s.describe(s.pos))
	}
}

// structFields transcodes a JSON object into the content of a
// google.protobuf.Struct.
func (t *transcoder) structFields() error {
	s := &t.s
	return s.members(func(k []byte, keyAt int) error {
		if err := t.structEntry(k); err != nil {
			return within(err, "."+s.keyAt(keyAt))
		}
		return nil
	})
}

// listValues transcodes a JSON array into the content of a
// google.protobuf.ListValue.
func (t *transcoder) listValues() error {
	return t.s.elements(func(i int) error {
		start := t.begin(1) // ListValue.values
		err := t.value()
		t.end(start)
		if err != nil {
			return within(err, "["+strconv.Itoa(i)+"]")
		}
		return nil
	})
}
