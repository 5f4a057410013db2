package mapping

import (
	"bytes"
	"errors"
	"strconv"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

// kind is how a field's upstream JSON is read.
type kind uint8

const (
	kindUnsupported kind = iota // read nothing: the value goes to the catch-all
	kindString
	kindBool
	kindInt32
	kindInt64
	kindDouble
	kindTimestamp
	kindDuration
	kindValue  // google.protobuf.Value: any JSON
	kindStruct // google.protobuf.Struct: any JSON object
	kindMessage
)

// field is what the decoder needs to know about one field.
type field struct {
	fd    protoreflect.FieldDescriptor
	index int    // fd.Index()
	key   string // upstream key
	kind  kind
}

// messageInfo maps the upstream keys of one message type to its fields.
type messageInfo struct {
	byKey    map[string]field
	catchAll protoreflect.FieldDescriptor // nil when the message has none
}

var infos sync.Map // protoreflect.MessageDescriptor -> *messageInfo

func infoOf(md protoreflect.MessageDescriptor) *messageInfo {
	if info, ok := infos.Load(md); ok {
		return info.(*messageInfo)
	}
	fields := md.Fields()
	info := &messageInfo{byKey: make(map[string]field, fields.Len())}
	for i := range fields.Len() {
		fd := fields.Get(i)
		if isCatchAll(fd) {
			info.catchAll = fd
			continue
		}
		key := UpstreamKey(fd)
		info.byKey[key] = field{fd: fd, index: i, key: key, kind: kindOf(fd)}
	}
	stored, _ := infos.LoadOrStore(md, info)
	return stored.(*messageInfo)
}

func isCatchAll(fd protoreflect.FieldDescriptor) bool {
	return proto.GetExtension(fd.Options(), smartassistv1.E_CatchAll).(bool) &&
		!fd.IsList() && fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Struct"
}

// UpstreamKey returns the key a field has in SmartAssist's JSON: its
// (smartassist.v1.upstream_key) option, or else its JSON name.
func UpstreamKey(fd protoreflect.FieldDescriptor) string {
	if k := proto.GetExtension(fd.Options(), smartassistv1.E_UpstreamKey).(string); k != "" {
		return k
	}
	return fd.JSONName()
}

// kindOf says how a field is read. Kinds the upstream JSON has no use for
// yet (maps, enums, unsigned and fixed-width integers, floats, bytes) are
// unsupported: their values are kept in the catch-all rather than guessed.
func kindOf(fd protoreflect.FieldDescriptor) kind {
	if fd.IsMap() {
		return kindUnsupported
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return kindString
	case protoreflect.BoolKind:
		return kindBool
	case protoreflect.Int32Kind:
		return kindInt32
	case protoreflect.Int64Kind:
		return kindInt64
	case protoreflect.DoubleKind:
		return kindDouble
	case protoreflect.MessageKind:
		switch fd.Message().FullName() {
		case "google.protobuf.Timestamp":
			return kindTimestamp
		case "google.protobuf.Duration":
			return kindDuration
		case "google.protobuf.Value":
			return kindValue
		case "google.protobuf.Struct":
			return kindStruct
		}
		return kindMessage
	}
	return kindUnsupported
}

// decoder is the second pass of Unmarshal: it reads a document that check
// has accepted into messages, through protoreflect.
type decoder struct {
	scanner
	// text is the document as one string, copied once, so that strings
	// read from it can be substrings rather than an allocation each.
	text string
}

// str reads a JSON string value.
func (d *decoder) str() (string, error) {
	start := d.pos + 1
	b, err := d.stringBytes()
	return d.substring(b, start), err
}

// substring returns b, read from offset off of the document, as a string:
// the document text's own bytes if they equal b (no escapes), else a copy.
func (d *decoder) substring(b []byte, off int) string {
	if end := off + len(b); end <= len(d.text) && d.text[off:end] == string(b) {
		return d.text[off:end]
	}
	return string(b)
}

// errNotFit stops reading a list at an element of the wrong type.
var errNotFit = errors.New("value does not fit the field")

// names hands out the names members take in one object (see the package
// doc on repeated keys).
type names struct {
	info   *messageInfo // nil for a Struct
	filled uint64       // fields (by index < 64) whose key a member took
	more   map[int]bool // the same for indexes >= 64
	extra  map[string]*structpb.Value
	next   map[string]int // per key, the next #n to try
}

func (n *names) fill(f field) {
	if f.index < 64 {
		n.filled |= 1 << f.index
		return
	}
	if n.more == nil {
		n.more = map[int]bool{}
	}
	n.more[f.index] = true
}

// open reports whether field f's key is still free for it.
func (n *names) open(f field) bool {
	if _, ok := n.extra[f.key]; ok {
		return false
	}
	if f.index < 64 {
		return n.filled&(1<<f.index) == 0
	}
	return !n.more[f.index]
}

func (n *names) taken(name string) bool {
	if n.info != nil {
		if f, ok := n.info.byKey[name]; ok {
			return !n.open(f)
		}
	}
	_, ok := n.extra[name]
	return ok
}

// free returns the first of key, key#2, key#3, … not yet taken. Where it
// stopped last time is remembered, so a key repeated n times costs O(n).
func (n *names) free(key string) string {
	if !n.taken(key) {
		return key
	}
	if n.next == nil {
		n.next = map[string]int{}
	}
	i := max(n.next[key], 2)
	name := key + "#" + strconv.Itoa(i)
	for n.taken(name) {
		i++
		name = key + "#" + strconv.Itoa(i)
	}
	n.next[key] = i + 1
	return name
}

// object reads the JSON object at the scanner into m.
func (d *decoder) object(m protoreflect.Message) error {
	n := names{info: infoOf(m.Descriptor())}
	return d.members(func(k []byte, keyAt int) error {
		var name string
		if f, ok := n.info.byKey[string(k)]; ok && n.open(f) {
			n.fill(f)
			start := d.pos
			fits, err := d.field(m, f)
			if fits || err != nil {
				return err
			}
			// Not of the field's type: keep it verbatim instead.
			m.Clear(f.fd)
			d.pos = start
			name = f.key
		} else {
			name = n.free(d.substring(k, keyAt+1))
		}
		v, err := d.value()
		if err != nil || n.info.catchAll == nil {
			return err
		}
		if n.extra == nil {
			all := &structpb.Struct{Fields: map[string]*structpb.Value{}}
			m.Set(n.info.catchAll, protoreflect.ValueOfMessage(all.ProtoReflect()))
			n.extra = all.Fields
		}
		n.extra[name] = v
		return nil
	})
}

// field reads the value at the scanner into field f of m. It reports
// fits=false, having possibly consumed input and set the field, when the
// value is not of the field's type; the caller rewinds and clears.
func (d *decoder) field(m protoreflect.Message, f field) (fits bool, err error) {
	c := d.peek()
	if c == 'n' {
		return true, d.literal("null") // null means "not set", for every field
	}
	if !f.fd.IsList() {
		v, fits, err := d.one(f, c, func() protoreflect.Message { return m.NewField(f.fd).Message() })
		if fits && err == nil {
			m.Set(f.fd, v)
		}
		return fits, err
	}
	if c != '[' {
		return false, nil
	}
	l := m.Mutable(f.fd).List()
	err = d.elements(']', func() error {
		v, fits, err := d.one(f, d.peek(), func() protoreflect.Message { return l.NewElement().Message() })
		if err != nil {
			return err
		}
		if !fits {
			return errNotFit
		}
		l.Append(v)
		return nil
	})
	if err == errNotFit {
		return false, nil
	}
	return err == nil, err
}

// one reads one value of field f, starting with byte c: the field's value,
// or one element of a list. newMessage makes the message a kindMessage
// value is read into.
func (d *decoder) one(f field, c byte, newMessage func() protoreflect.Message) (v protoreflect.Value, fits bool, err error) {
	switch f.kind {
	case kindString:
		if c != '"' {
			return v, false, nil
		}
		s, err := d.str()
		return protoreflect.ValueOfString(s), err == nil, err
	case kindBool:
		b, fits, err := readBool(&d.scanner, c)
		return protoreflect.ValueOfBool(b), fits, err
	case kindInt32:
		n, fits, err := readScaled(&d.scanner, c, 0)
		return protoreflect.ValueOfInt32(int32(n)), fits && int64(int32(n)) == n, err
	case kindInt64:
		n, fits, err := readScaled(&d.scanner, c, 0)
		return protoreflect.ValueOfInt64(n), fits, err
	case kindDouble:
		if c != '-' && !isDigit(c) {
			return v, false, nil
		}
		lit, err := d.number()
		x, fits := exactDouble(lit)
		return protoreflect.ValueOfFloat64(x), fits && err == nil, err
	case kindTimestamp:
		sec, nsec, fits, err := readInstant(&d.scanner, c)
		ts := &timestamppb.Timestamp{Seconds: sec, Nanos: nsec}
		return protoreflect.ValueOfMessage(ts.ProtoReflect()), fits, err
	case kindDuration:
		// Milliseconds; seconds and nanos carry the same sign.
		ns, fits, err := readScaled(&d.scanner, c, 6)
		du := &durationpb.Duration{Seconds: ns / 1e9, Nanos: int32(ns % 1e9)}
		return protoreflect.ValueOfMessage(du.ProtoReflect()), fits, err
	case kindValue:
		val, err := d.value()
		return protoreflect.ValueOfMessage(val.ProtoReflect()), err == nil, err
	case kindStruct:
		if c != '{' {
			return v, false, nil
		}
		st, err := d.structValue()
		return protoreflect.ValueOfMessage(st.ProtoReflect()), err == nil, err
	case kindMessage:
		if c != '{' {
			return v, false, nil
		}
		msg := newMessage()
		return protoreflect.ValueOfMessage(msg), true, d.object(msg)
	}
	return v, false, nil
}

// value reads any JSON value as a google.protobuf.Value. A number a double
// cannot hold (see exactDouble) is kept as the text of its literal.
func (d *decoder) value() (*structpb.Value, error) {
	switch c := d.peek(); {
	case c == '{':
		st, err := d.structValue()
		return structpb.NewStructValue(st), err
	case c == '[':
		lv := &structpb.ListValue{}
		err := d.elements(']', func() error {
			v, err := d.value()
			lv.Values = append(lv.Values, v)
			return err
		})
		return structpb.NewListValue(lv), err
	case c == '"':
		s, err := d.str()
		return structpb.NewStringValue(s), err
	case c == 't' || c == 'f':
		b, _, err := readBool(&d.scanner, c)
		return structpb.NewBoolValue(b), err
	case c == 'n':
		return structpb.NewNullValue(), d.literal("null")
	case c == '-' || isDigit(c):
		lit, err := d.number()
		if x, ok := exactDouble(lit); ok {
			return structpb.NewNumberValue(x), err
		}
		return structpb.NewStringValue(string(lit)), err
	}
	return nil, d.errorf(d.pos, "expected a JSON value, found %s", d.describe(d.pos))
}

// structValue reads a JSON object as a google.protobuf.Struct, with
// repeated keys named as in messages.
func (d *decoder) structValue() (*structpb.Struct, error) {
	n := names{extra: map[string]*structpb.Value{}}
	err := d.members(func(k []byte, keyAt int) error {
		name := n.free(d.substring(k, keyAt+1))
		v, err := d.value()
		n.extra[name] = v
		return err
	})
	return &structpb.Struct{Fields: n.extra}, err
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
		switch {
		case err != nil:
			return false, false, err
		case bytes.EqualFold(b, []byte("yes")), bytes.EqualFold(b, []byte("true")):
			return true, true, nil
		case bytes.EqualFold(b, []byte("no")), bytes.EqualFold(b, []byte("false")):
			return false, true, nil
		}
	}
	return false, false, nil
}
