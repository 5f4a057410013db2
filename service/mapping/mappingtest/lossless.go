// Package mappingtest checks that a proto message built from SmartAssist JSON
// carries everything the JSON said, and makes large realistic inputs for
// tests and benchmarks of the mapping package.
//
// The check is a property, not a golden comparison: Lost walks the input JSON
// and the message side by side using only descriptors and the smartassist.v1
// field options, so it needs no change when the proto grows a field, and it can
// judge any mapper output, including what a fuzz test produces. It re-derives
// every representation rule from the contract written in
// proto/smartassist/v1/conversation.proto instead of calling the mapper's
// helpers, so that a bug shared by both cannot hide.
//
// The rules it enforces, per upstream key of an object:
//   - JSON null needs nothing.
//   - If the key's field is populated, its value must equal the input by the
//     field's rule: strings exactly; bools from true/false or "yes", "no",
//     "true", "false" in any case; integers exactly from integral numbers or
//     decimal strings; doubles from numbers; Timestamps as the same instant
//     from an ISO-8601 string with a zone or from epoch milliseconds;
//     Durations exactly from milliseconds (a number or a numeric string);
//     nested objects and arrays recursively; Value and Struct as JSON.
//   - An unset field without presence (a proto3 string, a repeated field)
//     carries its zero value: "" and [] need nothing.
//   - A key repeated in one object: each member, in document order, is carried
//     by its field if its key names one that no earlier member of the object
//     took; otherwise the catch-all must hold it under the first of key,
//     key#2, key#3, … that no earlier member took. A member takes the name it
//     is held under; a field's key is taken by the first member with that key.
//     Objects held in a Struct or Value name their members the same way.
//   - Otherwise the message's catch-all Struct must hold the key (null too)
//     with a value equal as JSON, where a number is a number_value unless it is an integer
//     literal that a float64 cannot hold exactly or a literal outside a
//     float64's range (1e400, and 1e-400, which would read as zero): those
//     are string_values holding the literal's text.
package mappingtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

// maxReported bounds the lines AssertLossless prints: a mapper that drops a
// whole subtree of a large input would otherwise bury the first, most useful
// line under thousands.
const maxReported = 20

// Lost returns one line per upstream leaf or key of input that msg does not
// carry, as "path: what", with paths like $.userInfo.identities[0].val. An
// empty result means msg carries input without loss. Input that is not a
// single JSON value yields one line for "$". Every member of an object
// counts, repeated keys included (see the package doc).
func Lost(input []byte, msg proto.Message) []string {
	dec := json.NewDecoder(bytes.NewReader(input))
	// Number literals keep their text: the rules compare integers, durations
	// and epoch milliseconds exactly, which float64 cannot.
	dec.UseNumber()
	v, err := readJSON(dec)
	if err != nil {
		return []string{"$: input is not JSON: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return []string{"$: input has more than one JSON value"}
	}
	if v == nil {
		return nil
	}
	if msg == nil {
		return []string{fmt.Sprintf("$: %s not carried: no message", describe(v))}
	}
	var c checker
	c.message("$", msg.ProtoReflect(), v)
	return c.lost
}

// AssertLossless fails tb with one Errorf per line of Lost(input, msg), at
// most 20, then one line with the count of the rest.
func AssertLossless(tb testing.TB, input []byte, msg proto.Message) {
	tb.Helper()
	lost := Lost(input, msg)
	for i, line := range lost {
		if i == maxReported {
			tb.Errorf("lossless: and %d more lost", len(lost)-maxReported)
			return
		}
		tb.Errorf("lossless: %s", line)
	}
}

// checker collects the lines of one Lost call.
type checker struct {
	lost []string
}

func (c *checker) add(path, format string, args ...any) {
	c.lost = append(c.lost, path+": "+fmt.Sprintf(format, args...))
}

// carries reports whether check finds nothing lost, without recording what it
// finds; it is how an unset field is tried before the catch-all is.
func carries(check func(*checker)) bool {
	var trial checker
	check(&trial)
	return len(trial.lost) == 0
}

// message checks one JSON object against a message that mirrors it.
func (c *checker) message(path string, m protoreflect.Message, v any) {
	obj, ok := v.(object)
	if !ok {
		c.add(path, "%s not carried: %s mirrors an object", describe(v), m.Descriptor().FullName())
		return
	}
	info := infoOf(m.Descriptor())
	taken := map[string]bool{}
	for _, mem := range obj {
		key, val := mem.key, mem.val
		p := childPath(path, key)
		fd := info.byKey[key]
		if fd == nil || taken[key] {
			name := freeName(key, taken)
			c.catchAll(p, name, val, m, info, nil)
			continue
		}
		taken[key] = true
		if val == nil {
			continue // JSON null needs nothing
		}
		if m.Has(fd) {
			c.field(p, m, fd, val)
			continue
		}
		// Proto3 strings and repeated fields have no presence: "" and
		// [] leave them unset, and unset is then exactly the input.
		if !fd.HasPresence() && carries(func(t *checker) { t.field(p, m, fd, val) }) {
			continue
		}
		c.catchAll(p, key, val, m, info, fd)
	}
}

// freeName returns the first of key, key#2, key#3, … not in taken, and
// takes it.
func freeName(key string, taken map[string]bool) string {
	name := key
	for n := 2; taken[name]; n++ {
		name = key + "#" + strconv.Itoa(n)
	}
	taken[name] = true
	return name
}

// catchAll checks that the message's catch-all Struct holds key with the value
// val; fd is the key's field when the message has one, unset or unreadable,
// and nil for a key it has no field for or a repeated key.
func (c *checker) catchAll(path, key string, val any, m protoreflect.Message, info *messageInfo, fd protoreflect.FieldDescriptor) {
	if info.catchAll == nil {
		c.add(path, "%s not carried: %s has no catch-all", describe(val), m.Descriptor().FullName())
		return
	}
	held, ok := asStruct(m.Get(info.catchAll).Message()).GetFields()[key]
	if !ok {
		reason := "no field takes this member"
		if fd != nil {
			reason = fmt.Sprintf("field %s is unset", fd.Name())
		}
		c.add(path, "%s not carried: %s and %s has no key %q", describe(val), reason, info.catchAll.Name(), key)
		return
	}
	c.value(path, val, held)
}

// field checks a populated (or zero, for fields without presence) field.
func (c *checker) field(path string, m protoreflect.Message, fd protoreflect.FieldDescriptor, v any) {
	switch {
	case fd.IsList():
		c.list(path, fd, m.Get(fd).List(), v)
	case fd.IsMap():
		c.mapField(path, fd, m.Get(fd).Map(), v)
	default:
		c.singular(path, fd, m.Get(fd), v)
	}
}

func (c *checker) list(path string, fd protoreflect.FieldDescriptor, l protoreflect.List, v any) {
	arr, ok := v.([]any)
	if !ok {
		c.add(path, "%s not carried: repeated field %s (%d elements) mirrors an array", describe(v), fd.Name(), l.Len())
		return
	}
	for i, elem := range arr {
		p := fmt.Sprintf("%s[%d]", path, i)
		if i >= l.Len() {
			c.add(p, "%s not carried: repeated field %s has %d elements", describe(elem), fd.Name(), l.Len())
			continue
		}
		c.singular(p, fd, l.Get(i), elem)
	}
}

// mapField handles map fields for generality; the SmartAssist messages use a
// catch-all Struct instead, so only string, integer and bool keys matter.
func (c *checker) mapField(path string, fd protoreflect.FieldDescriptor, mp protoreflect.Map, v any) {
	obj, ok := v.(object)
	if !ok {
		c.add(path, "%s not carried: map field %s mirrors an object", describe(v), fd.Name())
		return
	}
	seen := map[string]bool{}
	for _, mem := range obj {
		p := childPath(path, mem.key)
		mk, ok := mapKey(fd.MapKey(), mem.key)
		switch {
		case seen[mem.key]:
			c.add(p, "%s not carried: map field %s cannot hold a repeated key", describe(mem.val), fd.Name())
		case !ok || !mp.Has(mk):
			c.add(p, "%s not carried: map field %s has no key %q", describe(mem.val), fd.Name(), mem.key)
		default:
			c.singular(p, fd.MapValue(), mp.Get(mk), mem.val)
		}
		seen[mem.key] = true
	}
}

func mapKey(fd protoreflect.FieldDescriptor, key string) (protoreflect.MapKey, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(key).MapKey(), true
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(key)
		return protoreflect.ValueOfBool(b).MapKey(), err == nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(key, 10, 32)
		return protoreflect.ValueOfInt32(int32(n)).MapKey(), err == nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(key, 10, 64)
		return protoreflect.ValueOfInt64(n).MapKey(), err == nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(key, 10, 32)
		return protoreflect.ValueOfUint32(uint32(n)).MapKey(), err == nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(key, 10, 64)
		return protoreflect.ValueOfUint64(n).MapKey(), err == nil
	}
	return protoreflect.MapKey{}, false
}

// singular checks one value of a field: the field itself, or one element of a
// repeated or map field. Only elements can be null here, and a null element
// can only be carried by a Value: for any other element type the contract
// sends the whole array to the catch-all.
func (c *checker) singular(path string, fd protoreflect.FieldDescriptor, pv protoreflect.Value, v any) {
	if v == nil && (fd.Message() == nil || fd.Message().FullName() != "google.protobuf.Value") {
		c.add(path, "null not carried: an element of %s field %s cannot be null", kindName(fd), fd.Name())
		return
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		s, ok := v.(string)
		switch {
		case !ok:
			c.add(path, "%s not carried: string field %s holds %q and takes JSON strings only", describe(v), fd.Name(), pv.String())
		case s != pv.String():
			c.add(path, "%s not carried: string field %s holds %q", describe(v), fd.Name(), pv.String())
		}
	case protoreflect.BoolKind:
		b, ok := boolOf(v)
		switch {
		case !ok:
			c.add(path, "%s not carried: bool field %s holds %t and takes true/false or yes/no", describe(v), fd.Name(), pv.Bool())
		case b != pv.Bool():
			c.add(path, "%s not carried: bool field %s holds %t", describe(v), fd.Name(), pv.Bool())
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		c.integer(path, fd, big.NewInt(pv.Int()), v)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		c.integer(path, fd, new(big.Int).SetUint64(pv.Uint()), v)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		bits := 64
		if fd.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		f, ok := floatOf(v, bits)
		switch {
		case !ok:
			c.add(path, "%s not carried: %s field %s holds %v and takes numbers a float%d holds", describe(v), fd.Kind(), fd.Name(), pv.Float(), bits)
		case f != pv.Float():
			c.add(path, "%s not carried: %s field %s holds %v", describe(v), fd.Kind(), fd.Name(), pv.Float())
		}
	case protoreflect.EnumKind:
		c.enum(path, fd, pv.Enum(), v)
	case protoreflect.BytesKind:
		// Upstream JSON has no bytes type: a bytes field mirroring it can
		// only hold a string's UTF-8, so that is what is compared.
		s, ok := v.(string)
		if !ok || s != string(pv.Bytes()) {
			c.add(path, "%s not carried: bytes field %s holds %d bytes", describe(v), fd.Name(), len(pv.Bytes()))
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		c.messageValue(path, fd, pv.Message(), v)
	}
}

// integer checks an integer field holding have against the input v.
func (c *checker) integer(path string, fd protoreflect.FieldDescriptor, have *big.Int, v any) {
	want, ok := integerOf(v)
	switch {
	case !ok:
		c.add(path, "%s not carried: %s field %s holds %s and takes integral numbers or decimal strings", describe(v), fd.Kind(), fd.Name(), have)
	case !fitsKind(want, fd.Kind()):
		c.add(path, "%s not carried: out of range for %s field %s, which holds %s", describe(v), fd.Kind(), fd.Name(), have)
	case want.Cmp(have) != 0:
		c.add(path, "%s not carried: %s field %s holds %s", describe(v), fd.Kind(), fd.Name(), have)
	}
}

func (c *checker) enum(path string, fd protoreflect.FieldDescriptor, have protoreflect.EnumNumber, v any) {
	var want protoreflect.EnumNumber
	ok := false
	switch x := v.(type) {
	case string:
		if ev := fd.Enum().Values().ByName(protoreflect.Name(x)); ev != nil {
			want, ok = ev.Number(), true
		}
	case json.Number:
		if n, isInt := integerOf(x); isInt && n.IsInt64() && n.Int64() >= math.MinInt32 && n.Int64() <= math.MaxInt32 {
			want, ok = protoreflect.EnumNumber(n.Int64()), true
		}
	}
	if !ok || want != have {
		c.add(path, "%s not carried: enum field %s holds %d", describe(v), fd.Name(), have)
	}
}

// messageValue checks a message-typed value: the well-known types by their
// JSON rules, any other message as a mirrored object.
func (c *checker) messageValue(path string, fd protoreflect.FieldDescriptor, pm protoreflect.Message, v any) {
	md := pm.Descriptor()
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		c.timestamp(path, fd, pm, v)
	case "google.protobuf.Duration":
		c.duration(path, fd, pm, v)
	case "google.protobuf.Value":
		c.value(path, v, asValue(pm))
	case "google.protobuf.Struct":
		c.value(path, v, structpb.NewStructValue(asStruct(pm)))
	case "google.protobuf.ListValue":
		c.value(path, v, structpb.NewListValue(asList(pm)))
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		inner := md.Fields().ByName("value")
		c.singular(path, inner, pm.Get(inner), v)
	default:
		c.message(path, pm, v)
	}
}

func (c *checker) timestamp(path string, fd protoreflect.FieldDescriptor, pm protoreflect.Message, v any) {
	fields := pm.Descriptor().Fields()
	ts := &timestamppb.Timestamp{
		Seconds: pm.Get(fields.ByName("seconds")).Int(),
		Nanos:   int32(pm.Get(fields.ByName("nanos")).Int()),
	}
	// An invalid Timestamp cannot be written as Connect JSON, so a client
	// would never see it: for the API it is lost.
	if err := ts.CheckValid(); err != nil {
		c.add(path, "%s not carried: Timestamp field %s is invalid (%v)", describe(v), fd.Name(), err)
		return
	}
	have := ts.AsTime().Format(time.RFC3339Nano)
	switch x := v.(type) {
	case string:
		t, exact, ok := parseInstant(x)
		switch {
		case !ok:
			c.add(path, "%s not carried: Timestamp field %s holds %s and takes ISO-8601 instants with a zone or epoch milliseconds", describe(v), fd.Name(), have)
		case !exact:
			c.add(path, "%s not carried: a Timestamp cannot hold its sub-nanosecond digits; field %s holds %s", describe(v), fd.Name(), have)
		case t.Unix() != ts.Seconds || int32(t.Nanosecond()) != ts.Nanos:
			c.add(path, "%s not carried: Timestamp field %s holds %s, the input is %s", describe(v), fd.Name(), have, t.UTC().Format(time.RFC3339Nano))
		}
	case json.Number:
		ms, ok := exactDecimal(string(x))
		if !ok || ms.Cmp(millis(ts.Seconds, ts.Nanos)) != 0 {
			c.add(path, "%s not carried: Timestamp field %s holds %s (epoch ms %s)", describe(v), fd.Name(), have, millis(ts.Seconds, ts.Nanos).FloatString(6))
		}
	default:
		c.add(path, "%s not carried: Timestamp field %s holds %s", describe(v), fd.Name(), have)
	}
}

func (c *checker) duration(path string, fd protoreflect.FieldDescriptor, pm protoreflect.Message, v any) {
	fields := pm.Descriptor().Fields()
	d := &durationpb.Duration{
		Seconds: pm.Get(fields.ByName("seconds")).Int(),
		Nanos:   int32(pm.Get(fields.ByName("nanos")).Int()),
	}
	if err := d.CheckValid(); err != nil {
		c.add(path, "%s not carried: Duration field %s is invalid (%v)", describe(v), fd.Name(), err)
		return
	}
	var lit string
	switch x := v.(type) {
	case json.Number:
		lit = string(x)
	case string:
		lit = x
	default:
		c.add(path, "%s not carried: Duration field %s holds %s and takes milliseconds", describe(v), fd.Name(), d.AsDuration())
		return
	}
	ms, ok := exactDecimal(lit)
	if !ok || ms.Cmp(millis(d.Seconds, d.Nanos)) != 0 {
		c.add(path, "%s not carried: Duration field %s holds %s (%s ms)", describe(v), fd.Name(), d.AsDuration(), millis(d.Seconds, d.Nanos).FloatString(6))
	}
}

// value checks the input v against a Value held in a Value, Struct or
// ListValue field or in a catch-all, as JSON under the number rule.
func (c *checker) value(path string, v any, held *structpb.Value) {
	switch x := v.(type) {
	case nil:
		if _, ok := held.GetKind().(*structpb.Value_NullValue); !ok {
			c.add(path, "null not carried: held as %s", describeValue(held))
		}
	case bool:
		if k, ok := held.GetKind().(*structpb.Value_BoolValue); !ok || k.BoolValue != x {
			c.add(path, "%s not carried: held as %s", describe(v), describeValue(held))
		}
	case string:
		if k, ok := held.GetKind().(*structpb.Value_StringValue); !ok || k.StringValue != x {
			c.add(path, "%s not carried: held as %s", describe(v), describeValue(held))
		}
	case json.Number:
		lit := string(x)
		if keepsText(lit) {
			if k, ok := held.GetKind().(*structpb.Value_StringValue); !ok || k.StringValue != lit {
				c.add(path, "%s not carried: a float64 cannot hold it, so it must be the string %q; held as %s", describe(v), lit, describeValue(held))
			}
			return
		}
		f, _ := strconv.ParseFloat(lit, 64)
		if k, ok := held.GetKind().(*structpb.Value_NumberValue); !ok || k.NumberValue != f {
			c.add(path, "%s not carried: held as %s", describe(v), describeValue(held))
		}
	case []any:
		k, ok := held.GetKind().(*structpb.Value_ListValue)
		if !ok {
			c.add(path, "%s not carried: held as %s", describe(v), describeValue(held))
			return
		}
		elems := k.ListValue.GetValues()
		for i, elem := range x {
			p := fmt.Sprintf("%s[%d]", path, i)
			if i >= len(elems) {
				c.add(p, "%s not carried: the held array has %d elements", describe(elem), len(elems))
				continue
			}
			c.value(p, elem, elems[i])
		}
	case object:
		k, ok := held.GetKind().(*structpb.Value_StructValue)
		if !ok {
			c.add(path, "%s not carried: held as %s", describe(v), describeValue(held))
			return
		}
		fields := k.StructValue.GetFields()
		taken := map[string]bool{}
		for _, mem := range x {
			p := childPath(path, mem.key)
			name := freeName(mem.key, taken)
			got, ok := fields[name]
			if !ok {
				c.add(p, "%s not carried: the held object has no key %q", describe(mem.val), name)
				continue
			}
			c.value(p, mem.val, got)
		}
	}
}

// messageInfo is what Lost needs of a message descriptor, computed once.
type messageInfo struct {
	byKey    map[string]protoreflect.FieldDescriptor // upstream key -> field, catch-all excluded
	catchAll protoreflect.FieldDescriptor            // nil when the message has none
}

var infos sync.Map // protoreflect.MessageDescriptor -> *messageInfo

func infoOf(md protoreflect.MessageDescriptor) *messageInfo {
	if v, ok := infos.Load(md); ok {
		return v.(*messageInfo)
	}
	info := &messageInfo{byKey: make(map[string]protoreflect.FieldDescriptor)}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if isCatchAll(fd) {
			if info.catchAll == nil {
				info.catchAll = fd
			}
			// The catch-all mirrors no key: an upstream key "unmapped" is an
			// unknown key like any other and belongs inside it.
			continue
		}
		key := upstreamKey(fd)
		if _, dup := info.byKey[key]; !dup {
			info.byKey[key] = fd
		}
	}
	v, _ := infos.LoadOrStore(md, info)
	return v.(*messageInfo)
}

func upstreamKey(fd protoreflect.FieldDescriptor) string {
	if opts := fd.Options(); opts != nil {
		if key, _ := proto.GetExtension(opts, smartassistv1.E_UpstreamKey).(string); key != "" {
			return key
		}
	}
	return fd.JSONName()
}

func isCatchAll(fd protoreflect.FieldDescriptor) bool {
	if fd.IsList() || fd.IsMap() || fd.Message() == nil || fd.Message().FullName() != "google.protobuf.Struct" {
		return false
	}
	opts := fd.Options()
	if opts == nil {
		return false
	}
	on, _ := proto.GetExtension(opts, smartassistv1.E_CatchAll).(bool)
	return on
}

// asStruct, asValue and asList view a well-known message as its Go type. A
// message built with dynamicpb is not that type, so it is copied through the
// wire format, which both share.
func asStruct(pm protoreflect.Message) *structpb.Struct { return asKnown(pm, new(structpb.Struct)) }
func asValue(pm protoreflect.Message) *structpb.Value   { return asKnown(pm, new(structpb.Value)) }
func asList(pm protoreflect.Message) *structpb.ListValue {
	return asKnown(pm, new(structpb.ListValue))
}

func asKnown[T proto.Message](pm protoreflect.Message, empty T) T {
	if known, ok := pm.Interface().(T); ok {
		return known
	}
	if b, err := proto.Marshal(pm.Interface()); err == nil {
		_ = proto.Unmarshal(b, empty)
	}
	return empty
}

// boolOf reads a bool the way the contract allows: SmartAssist's documented
// responses say "YES"/"NO" where its field table says boolean.
func boolOf(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch {
		case strings.EqualFold(x, "yes"), strings.EqualFold(x, "true"):
			return true, true
		case strings.EqualFold(x, "no"), strings.EqualFold(x, "false"):
			return false, true
		}
	}
	return false, false
}

// integerOf reads an integer from an integral JSON number (5, 5.0, 5e0) or a
// decimal string ("5", "+5", "-05").
func integerOf(v any) (*big.Int, bool) {
	switch x := v.(type) {
	case json.Number:
		r, ok := exactDecimal(string(x))
		if !ok || !r.IsInt() {
			return nil, false
		}
		return new(big.Int).Set(r.Num()), true
	case string:
		digits := strings.TrimPrefix(strings.TrimPrefix(x, "+"), "-")
		if digits == "" || len(x)-len(digits) > 1 || strings.TrimLeft(digits, "0123456789") != "" {
			return nil, false
		}
		if len(strings.TrimLeft(digits, "0")) > maxSignificant {
			return nil, false
		}
		n, ok := new(big.Int).SetString(x, 10)
		return n, ok
	}
	return nil, false
}

func fitsKind(n *big.Int, kind protoreflect.Kind) bool {
	if !n.IsInt64() {
		return n.IsUint64() && (kind == protoreflect.Uint64Kind || kind == protoreflect.Fixed64Kind)
	}
	i := n.Int64()
	switch kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return i >= math.MinInt32 && i <= math.MaxInt32
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return i >= 0 && i <= math.MaxUint32
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return i >= 0
	}
	return true
}

// floatOf reads a float field's value from a JSON number. It applies the
// catch-all's number rule to fields too: a literal that the catch-all would
// have to keep as text is one a float field cannot carry.
func floatOf(v any, bits int) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	lit := string(n)
	f, err := strconv.ParseFloat(lit, bits)
	if err != nil || (f == 0 && !isZeroLiteral(lit)) || (isIntegerLiteral(lit) && !holdsInteger(lit, f)) {
		return 0, false
	}
	return f, true
}

// keepsText reports whether the contract keeps a number literal as its text
// (a string_value) rather than as a number_value: integer literals a float64
// cannot hold exactly, and literals outside a float64's range. Other
// fractions are number_values, rounded to the nearest float64 as any JSON
// reader does.
//
// Out of range covers underflow too: the contract names only overflow, but
// reading 1e-400 as 0 turns a non-zero value into zero, which is the same
// loss as reading 1e400 as infinity, so both keep their text.
func keepsText(lit string) bool {
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || (f == 0 && !isZeroLiteral(lit)) {
		// strconv reports overflow as an error, but rounds underflow to zero
		// silently.
		return true
	}
	return isIntegerLiteral(lit) && !holdsInteger(lit, f)
}

// isZeroLiteral reports whether a number literal's significand is all zeros.
func isZeroLiteral(lit string) bool {
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		lit = lit[:i]
	}
	return strings.Trim(lit, "+-0.") == ""
}

func isIntegerLiteral(lit string) bool { return !strings.ContainsAny(lit, ".eE") }

// holdsInteger reports whether f is exactly the integer literal lit.
func holdsInteger(lit string, f float64) bool {
	want, ok := new(big.Int).SetString(lit, 10)
	if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
		return false
	}
	have, _ := big.NewFloat(f).Int(nil)
	return want.Cmp(have) == 0
}

// Bounds of exactDecimal. No integer, Duration or Timestamp field holds a
// value with more significant digits (an int64 has 19, a Timestamp in
// nanosecond-exact milliseconds about 22) or a wider power of ten, so larger
// literals are rejected without building huge numbers from hostile input.
const (
	maxSignificant = 40
	maxExponent    = 60
)

// exactDecimal reads a decimal literal (JSON number syntax, with a leading '+'
// and leading zeros also allowed, as in numeric strings) as an exact rational.
// It reports false for anything else and for values no integer, Duration or
// Timestamp field could hold.
func exactDecimal(s string) (*big.Rat, bool) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	intStart := i
	i = skipDigits(s, i)
	intPart := s[intStart:i]
	if intPart == "" {
		return nil, false
	}
	var frac string
	if i < len(s) && s[i] == '.' {
		fracStart := i + 1
		i = skipDigits(s, fracStart)
		frac = s[fracStart:i]
		if frac == "" {
			return nil, false
		}
	}
	exp := 0
	hugeExp := false
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			expNeg = s[i] == '-'
			i++
		}
		expStart := i
		i = skipDigits(s, expStart)
		if expStart == i {
			return nil, false
		}
		digits := strings.TrimLeft(s[expStart:i], "0")
		if len(digits) > 6 {
			hugeExp = true
		} else if digits != "" {
			exp, _ = strconv.Atoi(digits)
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return nil, false
	}
	significand := strings.TrimLeft(intPart+frac, "0")
	if significand == "" {
		return new(big.Rat), true // zero, whatever the exponent
	}
	if hugeExp {
		return nil, false
	}
	exp -= len(frac)
	trimmed := strings.TrimRight(significand, "0")
	exp += len(significand) - len(trimmed)
	if len(trimmed) > maxSignificant || exp > maxExponent || exp < -maxExponent {
		return nil, false
	}
	n, _ := new(big.Int).SetString(trimmed, 10)
	if neg {
		n.Neg(n)
	}
	r := new(big.Rat).SetInt(n)
	pow := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil))
	if exp >= 0 {
		return r.Mul(r, pow), true
	}
	return r.Quo(r, pow), true
}

func skipDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// millis is seconds and nanos as an exact number of milliseconds.
func millis(seconds int64, nanos int32) *big.Rat {
	r := new(big.Rat).SetInt64(seconds)
	r.Mul(r, big.NewRat(1000, 1))
	return r.Add(r, big.NewRat(int64(nanos), 1_000_000))
}

// instantLayouts are the ISO-8601 forms accepted as instants. Each needs a
// zone: a local date-time names no instant, so inventing UTC for it would be
// a guess, and such strings belong in the catch-all. time.Parse accepts a
// fraction of a second (with '.' or ',') after the seconds of each layout.
var instantLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05Z07",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04Z07:00",
}

// parseInstant reads an ISO-8601 instant. exact is false when the text has
// non-zero digits past the nanosecond, which time.Parse silently drops and a
// Timestamp cannot hold.
func parseInstant(s string) (t time.Time, exact, ok bool) {
	for _, layout := range instantLayouts {
		parsed, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		exact = true
		const fracAt = len("2006-01-02T15:04:05")
		if len(s) > fracAt && (s[fracAt] == '.' || s[fracAt] == ',') {
			end := skipDigits(s, fracAt+1)
			if digits := s[fracAt+1 : end]; len(digits) > 9 && strings.TrimRight(digits[9:], "0") != "" {
				exact = false
			}
		}
		return parsed, exact, true
	}
	return time.Time{}, false, false
}

func kindName(fd protoreflect.FieldDescriptor) string {
	if md := fd.Message(); md != nil {
		return string(md.FullName())
	}
	return fd.Kind().String()
}

// childPath appends key to a JSONPath, with bracket notation for keys that
// are not identifiers ("", "a.b", "名前" stay unambiguous).
func childPath(path, key string) string {
	if isIdentifier(key) {
		return path + "." + key
	}
	quoted, _ := json.Marshal(key)
	return path + "[" + string(quoted) + "]"
}

func isIdentifier(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		b := key[i]
		switch {
		case b == '_' || b == '$' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'):
		case b >= '0' && b <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// describe renders an input value for a report line, shortened so that a
// lost subtree does not flood the output.
func describe(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%v", v)
	}
	return shorten(strings.TrimSuffix(buf.String(), "\n"))
}

// describeValue renders a held Value with its JSON type, since the type is
// usually what differs ("12345678901234567890" against 1.2345678901234567e+19).
func describeValue(v *structpb.Value) string {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return "null"
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(k.BoolValue)
	case *structpb.Value_NumberValue:
		return "number " + strconv.FormatFloat(k.NumberValue, 'g', -1, 64)
	case *structpb.Value_StringValue:
		return "string " + shorten(strconv.Quote(k.StringValue))
	case *structpb.Value_ListValue:
		return fmt.Sprintf("an array of %d", len(k.ListValue.GetValues()))
	case *structpb.Value_StructValue:
		return fmt.Sprintf("an object of %d keys", len(k.StructValue.GetFields()))
	}
	return "an empty Value"
}

func shorten(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// object is a JSON object with its members in document order, repeated keys
// included: the mapper must carry each of them, so the checker reads them
// all rather than the last one, as encoding/json's maps would.
type object []member

type member struct {
	key string
	val any
}

// MarshalJSON writes the members in order, for describe.
func (o object) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, m := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(m.key)
		v, err := json.Marshal(m.val)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

// readJSON reads one JSON value from dec's tokens as nil, bool, string,
// json.Number, []any or object.
func readJSON(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		obj := object{}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil, err
			}
			val, err := readJSON(dec)
			if err != nil {
				return nil, err
			}
			obj = append(obj, member{key: key.(string), val: val})
		}
		_, err := dec.Token() // '}'
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			val, err := readJSON(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, val)
		}
		_, err := dec.Token() // ']'
		return arr, err
	}
	return tok, nil
}
